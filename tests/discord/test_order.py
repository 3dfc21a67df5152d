"""A conversation's requests in the order they were sent (bot/discord/inflight.py); others side by side.

On Discord a conversation is one person in one channel (or DM). A slowed engine makes a question
sent right after its picture arrive while the picture is still being described: without the order
it would be answered "Please send me a photo first".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.core import texts
from tests.discord.driver import Driver, is_ephemeral, settle
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.engine import RecordingEngine

QUESTIONS = 4
PLACES_IN_LINE = frozenset(texts.place_in_line(n) for n in range(1, 100))


def replies_in(fake: FakeDiscord, channel_id: int | str) -> list[tuple[str, str]]:
    """(the message it answers, its text) of each reply the bot posted in the channel, in order."""
    return [
        (str(call.json["message_reference"]["message_id"]), call.json.get("content") or "")
        for call in fake.calls
        if call.method == "POST"
        and call.path == f"/channels/{channel_id}/messages"
        and (call.json or {}).get("message_reference")
    ]


def answers_to(fake: FakeDiscord, channel_id: int | str, asked: list[dict]) -> list[tuple[str, str]]:
    """The replies to these messages (not places in line), in the order they were posted."""
    ids = {message["id"] for message in asked}
    return [
        (ref, text) for ref, text in replies_in(fake, channel_id) if ref in ids and text not in PLACES_IN_LINE
    ]


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_mentioned_questions_right_after_a_picture_are_answered_after_it_in_order(
    driver: Driver, start_adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    adapter = await start_adapter(message_content=True)
    me = fake.bot_user
    engine.delay_s = 0.1
    people = [fake.default_user, fake.user("bob"), fake.user("carol")]
    sent: dict[str, tuple[str, list[dict]]] = {}  # user id: (channel, their messages)
    dm = fake.dm_channel(people[0])
    for person, channel in [(p, str(fake.channel_id)) for p in people] + [(people[0], dm["id"])]:
        picture = fake.message(channel, f"<@{me['id']}>", person, attachments=[driver.photo()], mentions=[me])
        questions = [
            fake.message(channel, f"<@{me['id']}> question {n}?", person, mentions=[me])
            for n in range(1, QUESTIONS + 1)
        ]
        sent[f"{channel}:{person['id']}"] = (channel, [picture, *questions])
    for _, messages in sent.values():  # every conversation's messages at once, each in order
        for message in messages:
            await fake.dispatch("MESSAGE_CREATE", message)

    await until(lambda: all(len(answers_to(fake, c, m)) == QUESTIONS + 1 for c, m in sent.values()))
    for channel, messages in sent.values():
        answers = answers_to(fake, channel, messages)
        assert texts.NEED_PHOTO not in [text for _, text in answers]
        assert [ref for ref, _ in answers] == [message["id"] for message in messages]
    await settle(adapter)
    assert adapter.client.inflight.busy_conversations == 0  # idle lines are dropped


async def test_two_people_in_one_channel_are_answered_side_by_side(
    driver: Driver, start_adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    await start_adapter(message_content=True)
    me = fake.bot_user
    engine.hold()  # the first picture stays on the model until released
    pictures = [
        fake.message(fake.channel_id, f"<@{me['id']}>", person, attachments=[driver.photo()], mentions=[me])
        for person in (fake.default_user, fake.user("bob"))
    ]
    for picture in pictures:
        await fake.dispatch("MESSAGE_CREATE", picture)
    # The second person's picture is in the model's queue while the first one's is on the model.
    place = await fake.wait_for("POST", rf"/channels/{fake.channel_id}/messages")
    assert place.json["content"] in PLACES_IN_LINE
    engine.release()
    await until(lambda: len(answers_to(fake, fake.channel_id, pictures)) == 2)


async def test_a_command_behind_a_slow_answer_is_acknowledged_in_time_and_answered_after_it(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    engine.hold()
    describe, _ = await driver.command("describe", {"image": driver.photo()})
    ask, acknowledged = await driver.command("ask", {"question": "what colour is it?"})
    assert acknowledged.json["type"] == 5  # "thinking", within Discord's 3 seconds, while it waits
    assert not is_ephemeral(acknowledged)
    await asyncio.sleep(0.3)
    assert fake.followups(ask["token"]) == []  # still waiting for the picture's description
    engine.release()
    await driver.followup(describe)
    answer = await driver.followup(ask)
    assert answer.json["content"] != texts.NEED_PHOTO
    assert engine.prompts[-1].endswith("Question: what colour is it? Answer:")


async def test_a_private_command_behind_a_slow_answer_thinks_privately_and_comes_after_it(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    engine.hold()
    describe, _ = await driver.command("describe", {"image": driver.photo()})
    reset, acknowledged = await driver.command("reset")
    assert acknowledged.json["type"] == 5 and is_ephemeral(acknowledged)
    engine.release()
    await driver.followup(describe)
    assert (await driver.original_edit(reset)).json["content"] == texts.RESET_DONE
    ask, _ = await driver.command("ask", {"question": "and now?"})
    assert await driver.private_followup(ask) == texts.NEED_PHOTO  # the reset came after the picture
    assert fake.followups(reset["token"]) == []


async def test_different_people_do_not_wait_for_each_other_s_commands(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    engine.hold()
    await driver.command("describe", {"image": driver.photo()})
    bob = driver.fake.user("bob")
    _, settings = await driver.command("settings", user=bob)
    assert settings.json["type"] == 4  # answered at once: bob's conversation is not busy
    engine.release()
