"""/reset, /forget (with its Yes/No buttons), /help, /privacy and the answer to a failing command."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import discord
import pytest
from sqlalchemy import text

from bot.core import texts
from bot.core.service import ChatService
from bot.discord import help as discord_help
from storage import Store
from tests.discord.driver import Driver, is_ephemeral, settle
from tests.fakes import photos
from tests.fakes.engine import RecordingEngine


async def count(store: Store, table: str) -> int:
    async with store.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def described(driver: Driver, adapter) -> None:
    payload, _ = await driver.command("describe", {"image": driver.photo()})
    await driver.followup(payload)
    await settle(adapter)


async def test_reset_puts_the_photo_aside(driver: Driver, adapter, engine: RecordingEngine) -> None:
    await described(driver, adapter)
    _, callback = await driver.command("reset")
    assert callback.json["type"] == 4 and is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.RESET_DONE
    ask, _ = await driver.command("ask", {"question": "and now?"})
    assert await driver.private_followup(ask) == texts.NEED_PHOTO
    assert len(engine.requests) == 1


async def test_help_and_privacy_answer_privately(driver: Driver, adapter, service: ChatService) -> None:
    _, help_callback = await driver.command("help")
    assert is_ephemeral(help_callback)
    assert help_callback.json["data"]["content"] == discord_help.HELP
    _, privacy_callback = await driver.command("privacy")
    assert is_ephemeral(privacy_callback)
    assert privacy_callback.json["data"]["content"] == service.privacy().text


def buttons(callback) -> dict[str, str]:
    [row] = callback.json["data"]["components"]
    return {button["label"]: button["custom_id"] for button in row["components"]}


async def forget_question(driver: Driver) -> tuple[dict, dict, dict[str, str]]:
    payload, callback = await driver.command("forget")
    assert callback.json["type"] == 4 and is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.FORGET_CONFIRM
    return payload, driver.sent_message(texts.FORGET_CONFIRM), buttons(callback)


async def test_forget_asks_first_and_yes_deletes_everything(driver: Driver, adapter, store: Store) -> None:
    await described(driver, adapter)
    command, question, ids = await forget_question(driver)
    assert set(ids) == {texts.FORGET_YES, texts.FORGET_NO}
    assert await count(store, "images") == 1  # nothing happens before the answer

    answer = await driver.invoke(driver.button_press(command, question, ids[texts.FORGET_YES]))
    assert answer.json["type"] == 7  # the question message is edited into the result
    assert answer.json["data"]["content"] == texts.FORGET_DONE
    assert answer.json["data"]["components"] == []
    assert (await count(store, "images"), await count(store, "turns"), await count(store, "chats")) == (
        0,
        0,
        0,
    )


async def test_forget_no_keeps_everything(driver: Driver, adapter, store: Store) -> None:
    await described(driver, adapter)
    command, question, ids = await forget_question(driver)
    answer = await driver.invoke(driver.button_press(command, question, ids[texts.FORGET_NO]))
    assert answer.json["type"] == 7
    assert answer.json["data"]["content"] == texts.FORGET_CANCELLED
    assert await count(store, "images") == 1


async def test_only_the_person_who_asked_can_press_the_forget_buttons(
    driver: Driver, adapter, store: Store
) -> None:
    await described(driver, adapter)
    command, question, ids = await forget_question(driver)
    bob = driver.fake.user("bob")
    answer = await driver.invoke(driver.button_press(command, question, ids[texts.FORGET_YES], user=bob))
    assert answer.json["type"] == 4 and is_ephemeral(answer)
    assert answer.json["data"]["content"] == texts.FORGET_NOT_YOURS
    assert await count(store, "images") == 1


async def test_a_failing_quick_command_is_answered_and_logged_without_the_token(
    driver: Driver, adapter, service: ChatService, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    payload = driver.fake.slash_command("reset")

    async def broken_reset(chat):
        raise RuntimeError(f"POST /webhooks/{driver.fake.application_id}/{payload['token']} failed")

    monkeypatch.setattr(service, "reset", broken_reset)
    with caplog.at_level(logging.ERROR, logger="bot"):
        callback = await driver.invoke(payload)
    assert callback.json["type"] == 4 and is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.FAILED
    assert "discord command 'reset'" in caplog.text and "RuntimeError" in caplog.text
    assert payload["token"] not in caplog.text


async def test_failed_edits_of_the_thinking_message_are_logged_without_the_token(
    driver: Driver, adapter, engine: RecordingEngine, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """The place in line and the deletion before a private answer are courtesies: a failure is logged
    (webhook URLs hold the interaction's token, so an error may too) and the answer still comes."""

    tried = asyncio.Event()

    async def refused(interaction: discord.Interaction, **kwargs) -> None:
        tried.set()
        url = f"/webhooks/{interaction.application_id}/{interaction.token}/messages/@original"
        raise discord.HTTPException(SimpleNamespace(status=404, reason="Not Found"), f"nothing at {url}")

    monkeypatch.setattr(discord.Interaction, "edit_original_response", refused)
    monkeypatch.setattr(discord.Interaction, "delete_original_response", refused)
    with caplog.at_level(logging.DEBUG, logger="bot"):
        engine.hold()
        first, _ = await driver.command("describe", {"image": driver.photo(seed=1)})
        assert await asyncio.to_thread(engine.entered.wait, 10)
        queued, _ = await driver.command(
            "describe", {"image": driver.photo(seed=2)}, user=driver.fake.user("bob")
        )
        await asyncio.wait_for(tried.wait(), 10)  # bob's place in line, refused
        engine.release()
        assert (await driver.followup(first)).json["content"]
        assert (await driver.followup(queued)).json["content"]

        broken = driver.fake.add_attachment(photos.truncated_jpeg(), "broken.jpg", "image/jpeg")
        damaged, _ = await driver.command("describe", {"image": broken})
        private = await driver.followup(damaged)
        assert is_ephemeral(private) and private.json["content"].startswith(
            "That picture seems to be damaged"
        )
        await settle(adapter)
    assert "could not send the place in line" in caplog.text
    assert "could not send the deletion of the thinking message" in caplog.text
    assert "[token]" in caplog.text
    for payload in (first, queued, damaged):
        assert payload["token"] not in caplog.text


async def test_a_command_failing_after_deferring_is_answered_privately(
    driver: Driver, adapter, service: ChatService, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    async def broken(*args, **kwargs):
        raise RuntimeError("the store is gone")

    monkeypatch.setattr(service, "describe_photo", broken)
    with caplog.at_level(logging.ERROR, logger="bot"):
        payload, callback = await driver.command("describe", {"image": driver.photo()})
        assert callback.json["type"] == 5
        assert await driver.private_followup(payload) == texts.FAILED
    assert "the store is gone" in caplog.text


async def test_a_command_the_bot_does_not_know_is_answered_not_ignored(
    driver: Driver, adapter, caplog
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot"):
        payload, callback = await driver.command("caption")  # e.g. left over from an older version
    assert callback.json["type"] == 4 and is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.FAILED
    assert "CommandNotFound" in caplog.text and payload["token"] not in caplog.text
