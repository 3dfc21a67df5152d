"""Starting and stopping (bot/telegram.py): failures of one update, graceful stops, webhooks, secrets."""

from __future__ import annotations

import logging
import socket
from typing import Any

import aiohttp
import pytest

from bot.app.config import ConfigError, Settings
from bot.core import texts
from bot.telegram import build_adapter, is_configured
from tests.fakes import photos
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import (
    PRIVATE,
    RecordingEngine,
    RunningBot,
    StartBot,
    image_keys,
    quoted,
    reply_to,
    wait_until,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_token_means_no_adapter() -> None:
    assert not is_configured(Settings())
    assert build_adapter(Settings(), service=None) is None  # type: ignore[arg-type]
    assert is_configured(Settings(telegram={"token": "1:x"}))


def test_webhook_mode_needs_a_webhook_url() -> None:
    settings = Settings(telegram={"token": "1:x", "mode": "webhook"})
    with pytest.raises(ConfigError, match=r"telegram\.webhook_url"):
        build_adapter(settings, service=None)  # type: ignore[arg-type]


async def test_a_wrong_token_fails_the_start_with_a_config_error(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    with pytest.raises(ConfigError, match=r"telegram\.token"):
        await start_bot(telegram={"token": "999:WRONG"})
    assert tg.calls == []  # the fake refuses unknown tokens before recording anything


async def test_a_failing_update_is_logged_without_secrets_answered_and_the_bot_carries_on(
    tg: FakeTelegram,
    bot: RunningBot,
    engine: RecordingEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    real_describe = bot.service.describe_photo

    async def broken_once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(bot.service, "describe_photo", real_describe)
        # As an HTTP library's error would: the failing URL, with the token in its path.
        raise RuntimeError(f"a bug in the core fetching {tg.base_url}{tg.token}/getFile")

    monkeypatch.setattr(bot.service, "describe_photo", broken_once)
    photo = tg.send_photo(PRIVATE, photos.jpeg())
    apology = await reply_to(tg, PRIVATE)
    assert (apology["text"], quoted(apology)) == (texts.FAILED, photo["message_id"])
    [record] = [r for r in caplog.records if r.name == "bot.telegram.adapter" and r.levelno == logging.ERROR]
    logged = record.getMessage()
    assert f"chat={PRIVATE}" in logged and "error=RuntimeError" in logged
    assert "a bug in the core fetching" in logged and "<token>/getFile" in logged  # logged, scrubbed

    tg.send_photo(PRIVATE, photos.jpeg(seed=1))
    assert (await reply_to(tg, PRIVATE))["text"] != texts.FAILED
    assert len(image_keys(engine)) == 1
    assert tg.token not in caplog.text
    assert tg.token.split(":")[1] not in caplog.text
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


async def test_stop_lets_an_answer_in_flight_finish(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    engine.delay_s = 0.8
    tg.send_photo(PRIVATE, photos.jpeg(), caption="what is it?")
    await wait_until(lambda: len(engine.batches) == 1)
    await bot.stop()
    [answer] = tg.sent_messages(PRIVATE)
    assert answer["text"] not in (texts.STOPPING, texts.FAILED)


async def test_an_answer_still_running_after_the_grace_period_is_told_so(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    bot.adapter.stop_grace_s = 0.1
    engine.delay_s = 1.0
    tg.send_photo(PRIVATE, photos.jpeg(), caption="what is it?")
    await wait_until(lambda: len(engine.batches) == 1)
    await bot.stop()
    assert [m["text"] for m in tg.sent_messages(PRIVATE)] == [texts.STOPPING]


async def test_webhook_mode_registers_the_webhook_and_answers_what_it_receives(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    webhook = {
        "webhook_url": url,
        "webhook_listen": "127.0.0.1",
        "webhook_port": port,
        "webhook_secret": "s3cret",
    }
    await start_bot(telegram={"mode": "webhook", **webhook})
    registered = await tg.wait_for("setWebhook", timeout=1)
    assert (registered["url"], registered["secret_token"]) == (url, "s3cret")
    assert not any(method == "getUpdates" for method, _ in tg.calls)

    message = tg.send_command(PRIVATE, "/help")  # known to the fake; delivered below, by webhook
    update = {"update_id": 1, "message": message}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        ) as response:
            assert response.status == 403
        async with http.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        ) as response:
            assert response.status == 200
    assert (await reply_to(tg, PRIVATE))["text"] == texts.HELP


async def test_a_restart_after_stop_starts_cleanly_on_the_same_fake(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    first = await start_bot()
    await first.stop()
    await first.stop()  # twice is harmless
    await start_bot()
    tg.send_command(PRIVATE, "/help")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.HELP


async def test_webhook_mode_without_a_configured_secret_makes_one_and_refuses_unsigned_updates(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    await start_bot(
        telegram={"mode": "webhook", "webhook_url": url, "webhook_listen": "127.0.0.1", "webhook_port": port}
    )
    secret = (await tg.wait_for("setWebhook", timeout=1))["secret_token"]
    assert len(secret) >= 32  # made at start and handed to Telegram, which sends it with every update

    update = {"update_id": 1, "message": tg.send_command(PRIVATE, "/help")}
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 403
        async with http.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        ) as response:
            assert response.status == 200
    assert (await reply_to(tg, PRIVATE))["text"] == texts.HELP
    assert len(tg.sent_messages(PRIVATE)) == 1  # the refused requests were never handled
