"""What the Telegram tests share: a recording engine proxy, fast settings, and waits on the fake API.

Random weights say random words, so tests assert that replies arrive, their structure and the
exact prompts the model was given (recorded by `RecordingEngine`), never the model's words.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app.config import Settings
from bot.core.service import ChatService
from bot.telegram import TelegramAdapter
from tests.fakes.engine import RecordingEngine
from tests.fakes.telegram_api import FakeTelegram

PRIVATE = 42
OTHER_PRIVATE = 43
GROUP = -1001
ALICE = 1001  # the fake's default sender in groups
BOB = 1002

Params = dict[str, Any]


def make_settings(tg: FakeTelegram, db_path: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for a fast test bot; `sections` override keys section by section."""
    values: dict[str, dict[str, Any]] = {
        "telegram": {
            "token": tg.token,
            "base_url": tg.base_url,
            "base_file_url": tg.base_file_url,
            "album_wait_s": 0.3,
        },
        "storage": {"url": f"sqlite+aiosqlite:///{db_path}"},
        "inference": {
            "device": "cpu",
            "caption_beams": 1,
            "caption_max_new_tokens": 8,
            "answer_beams": 1,
            "answer_max_new_tokens": 6,
            "batch_wait_ms": 0,
            "request_timeout_s": 30,
        },
    }
    for section, overrides in sections.items():
        values[section] = {**values.get(section, {}), **overrides}
    return Settings(**values)


@dataclass
class RunningBot:
    settings: Settings
    service: ChatService
    adapter: TelegramAdapter
    stack: contextlib.AsyncExitStack

    async def stop(self) -> None:
        """Stop the adapter, then the worker and the store, as `blipbot run` does."""
        await self.stack.aclose()


StartBot = Callable[..., Awaitable[RunningBot]]


async def reply_to(tg: FakeTelegram, chat_id: int, timeout: float = 15.0) -> Params:
    """The bot's next message to `chat_id`."""
    return await tg.wait_for("sendMessage", lambda p: p["chat_id"] == chat_id, timeout=timeout)


async def assert_silent(tg: FakeTelegram, chat_id: int, wait_s: float = 0.6) -> None:
    """Nothing is sent to `chat_id` within `wait_s` seconds."""
    with pytest.raises(TimeoutError):
        found = await tg.wait_for("sendMessage", lambda p: p["chat_id"] == chat_id, timeout=wait_s)
        pytest.fail(f"expected silence, the bot said {found['text']!r}")


def quoted(params: Params) -> int | None:
    """The message id a sendMessage quotes (reply_parameters), if any."""
    return (params.get("reply_parameters") or {}).get("message_id")


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def image_keys(engine: RecordingEngine) -> list[str]:
    """The distinct images the model was asked about, in order (a description may be several requests)."""
    return list(dict.fromkeys(request.image_key for request in engine.requests))
