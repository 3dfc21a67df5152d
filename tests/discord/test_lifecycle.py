"""Start, queue, timeout and stop: nobody is left "thinking", and a stop lets answers finish."""

from __future__ import annotations

import asyncio

import pytest

from bot.app.config import ConfigError, Settings
from bot.core import texts
from bot.core.service import ChatService
from bot.discord import DiscordAdapter, build_adapter, is_configured
from tests.discord.driver import Driver, is_ephemeral, settle
from tests.discord.harness import discord_settings
from tests.fakes.engine import RecordingEngine


async def generating(engine: RecordingEngine) -> None:
    assert await asyncio.to_thread(engine.entered.wait, 10)


async def test_start_returns_once_the_session_is_ready_and_stop_closes_it(driver: Driver, adapter) -> None:
    assert driver.fake.identify is not None
    assert driver.fake.identify["intents"] & (1 << 15) == 0  # no message content unless configured
    client = adapter.client
    await adapter.stop()
    assert client.is_closed()
    assert adapter.client is None


async def test_a_wrong_token_fails_the_start(driver: Driver, service: ChatService, tmp_path) -> None:
    adapter = build_adapter(discord_settings(driver.fake, tmp_path, token="not-the-token"), service)
    assert isinstance(adapter, DiscordAdapter)
    with pytest.raises(ConfigError, match=r"discord\.token"):
        await adapter.start()
    assert adapter.client is None


def test_no_token_means_no_adapter(service: ChatService) -> None:
    assert not is_configured(Settings())
    assert build_adapter(Settings(), service) is None


def test_a_token_means_discord_is_configured(driver: Driver, tmp_path) -> None:
    assert is_configured(discord_settings(driver.fake, tmp_path))


async def test_others_ahead_in_line_see_their_place_then_their_answer(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    engine.hold()
    alice, _ = await driver.command("describe", {"image": driver.photo(seed=1)})
    await generating(engine)
    bob_user = driver.fake.user("bob")
    bob, callback = await driver.command("describe", {"image": driver.photo(seed=2)}, user=bob_user)
    assert callback.json["type"] == 5
    position = await driver.original_edit(bob)
    assert position.json["content"] == texts.place_in_line(2)
    assert position.json["allowed_mentions"] == {"parse": []}
    engine.release()
    assert (await driver.followup(alice)).json["content"]
    answer = await driver.followup(bob)  # a new message after the place in line, so it is announced
    assert answer.json["content"] and not answer.json.get("flags")


async def test_an_answer_that_takes_too_long_becomes_a_private_apology(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    adapter.client.answers.answer_timeout_s = 0.2
    engine.hold()
    payload, callback = await driver.command("describe", {"image": driver.photo()})
    assert callback.json["type"] == 5
    assert await driver.private_followup(payload) == texts.TIMEOUT
    engine.release()
    await settle(adapter)


async def test_stop_waits_for_answers_in_progress_and_turns_new_ones_away(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    engine.hold()
    describe, _ = await driver.command("describe", {"image": driver.photo()})
    await generating(engine)
    stopping = asyncio.create_task(adapter.stop())
    await asyncio.sleep(0.2)
    assert not stopping.done()

    _, late = await driver.command("help")
    assert is_ephemeral(late) and late.json["data"]["content"] == texts.STOPPING

    engine.release()
    await asyncio.wait_for(stopping, 10)
    assert driver.fake.followups(describe["token"])  # answered before the connection closed
