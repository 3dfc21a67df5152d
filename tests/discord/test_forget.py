"""/forget on Discord acts for nobody else, and waits for the answers its conversation is owed.

A Discord conversation is one person in one channel (`chat_ref`), so /forget in a server channel
deletes the asker's own pictures and questions there, never anyone else's: every member may use
it, with or without the Manage Messages permission.
"""

from __future__ import annotations

from sqlalchemy import text

from bot.core import texts
from storage import Store
from tests.discord.driver import Driver, is_ephemeral, settle
from tests.fakes.engine import RecordingEngine

MANAGE_MESSAGES = 1 << 13


async def conversations(store: Store) -> list[str]:
    async with store.engine.connect() as conn:
        return sorted((await conn.execute(text("SELECT external_id FROM chats"))).scalars())


async def count(store: Store, table: str) -> int:
    async with store.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def ask_to_forget(driver: Driver, user: dict | None = None) -> tuple[dict, dict, str]:
    """/forget's question: the command, the question message, and the id of its Yes button."""
    command, callback = await driver.command("forget", user=user)
    assert callback.json["type"] == 4 and is_ephemeral(callback)
    [row] = callback.json["data"]["components"]
    yes = next(b["custom_id"] for b in row["components"] if b["label"] == texts.FORGET_YES)
    question = [m for m in driver.fake.messages.values() if m["content"] == texts.FORGET_CONFIRM][-1]
    return command, question, yes


async def test_forget_in_a_channel_deletes_only_the_askers_own_conversation(
    driver: Driver, adapter, store: Store
) -> None:
    fake = driver.fake
    bob = fake.user("bob")
    for user in (fake.default_user, bob):
        payload, _ = await driver.command("describe", {"image": driver.photo()}, user=user)
        await driver.followup(payload)
    await settle(adapter)
    command, question, yes = await ask_to_forget(driver, user=bob)
    assert not int(command["member"]["permissions"]) & MANAGE_MESSAGES  # an ordinary member
    answer = await driver.invoke(driver.button_press(command, question, yes))
    assert answer.json["data"]["content"] == texts.FORGET_DONE
    assert await conversations(store) == [f"{fake.channel_id}:{fake.default_user['id']}"]
    assert await count(store, "images") == 1  # alice's picture is still there


async def test_yes_while_an_answer_is_in_flight_deletes_after_it_is_stored(
    driver: Driver, adapter, store: Store, engine: RecordingEngine
) -> None:
    engine.hold()
    describe, _ = await driver.command("describe", {"image": driver.photo()})
    command, question, yes = await ask_to_forget(driver)  # the question itself needs no turn
    acknowledged = await driver.invoke(driver.button_press(command, question, yes))
    assert acknowledged.json["type"] == 6  # deferred within 3 seconds; the question stays meanwhile
    engine.release()
    await driver.followup(describe)
    # Once the answer is stored, the deletion turns the question into its outcome.
    edited = await driver.fake.wait_for("PATCH", r"/webhooks/\d+/[^/]+/messages/@original")
    assert edited.json["content"] == texts.FORGET_DONE
    assert driver.fake.messages[question["id"]]["content"] == texts.FORGET_DONE
    await settle(adapter)
    assert (await count(store, "images"), await count(store, "turns"), await conversations(store)) == (
        0,
        0,
        [],
    )
