"""What the Telegram tests share: a recording engine proxy, fast settings, and waits on the fake API.

Random weights say random words, so tests assert that replies arrive, their structure and the
exact prompts the model was given (recorded by `RecordingEngine`), never the model's words.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.service import ChatService
from bot.telegram import TelegramAdapter
from inference.types import Engine, GenerationRequest, GenerationResult
from tests.core.test_speech import probe
from tests.fakes.telegram_api import FakeTelegram

PRIVATE = 42
OTHER_PRIVATE = 43
GROUP = -1001
ALICE = 1001  # the fake's default sender in groups
BOB = 1002

Params = dict[str, Any]


class RecordingEngine:
    """A thin proxy over a real engine: records every request, can sleep first and replace the words.

    Random weights say random words, so tests assert prompts and structure; `script` sets the text
    of the next answers when a test needs known words (history, splitting).
    """

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.can_answer_questions = inner.can_answer_questions
        self.delay_s = 0.0
        self.batches: list[list[GenerationRequest]] = []
        self._scripted: deque[str] = deque()
        self._lock = threading.Lock()

    def script(self, *answers: str) -> None:
        self._scripted.extend(answers)

    @property
    def requests(self) -> list[GenerationRequest]:
        return [request for batch in list(self.batches) for request in batch]

    @property
    def prompts(self) -> list[str]:
        return [request.prompt for request in self.requests]

    def forget(self, image_keys: list[str]) -> None:
        self.inner.forget(image_keys)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    @property
    def prompt_budget_tokens(self) -> int:
        return self.inner.prompt_budget_tokens

    def generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        with self._lock:
            self.batches.append(list(requests))
        if self.delay_s:
            time.sleep(self.delay_s)
        results = self.inner.generate_batch(requests)
        with self._lock:
            return [replace(r, text=self._scripted.popleft()) if self._scripted else r for r in results]


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


def assert_decodes(ogg: bytes) -> None:
    """A real decoder (ffprobe) accepts `ogg` as OGG/Opus audio of some length."""
    info = probe(ogg)
    assert info["format"]["format_name"] == "ogg"
    assert [stream["codec_name"] for stream in info["streams"]] == ["opus"]
    assert float(info["format"]["duration"]) > 0


def image_keys(engine: RecordingEngine) -> list[str]:
    """The distinct images the model was asked about, in order (a description may be several requests)."""
    return list(dict.fromkeys(request.image_key for request in engine.requests))
