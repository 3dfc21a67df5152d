"""Fixtures: a fake Bot API, and the bot started as `blipbot run` starts it, per test.

`start_bot(**sections)` builds settings, the core (`running_service`: a real SQLite store and a
real worker over the shared tiny BLIP-2, behind `RecordingEngine`) and the adapter, starts them,
and stops whatever is still running at the end of the test.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app.runner import running_service
from bot.telegram import TelegramAdapter, build_adapter
from inference.types import Engine
from tests.fakes.engine import RecordingEngine
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import RunningBot, StartBot, make_settings


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def engine(tiny_engine: Engine) -> RecordingEngine:
    return RecordingEngine(tiny_engine)


@pytest.fixture
async def start_bot(tg: FakeTelegram, engine: RecordingEngine, tmp_path: Path) -> AsyncIterator[StartBot]:
    """Start a bot on this test's SQLite file; call again after `stop()` to restart it."""
    stacks: list[contextlib.AsyncExitStack] = []

    async def start(**sections: dict[str, Any]) -> RunningBot:
        settings = make_settings(tg, tmp_path / "blipbot.sqlite3", **sections)
        stack = contextlib.AsyncExitStack()
        stacks.append(stack)  # stopped at the end even when the start fails half-way
        service = await stack.enter_async_context(running_service(settings, engine=engine, retention=False))
        adapter = build_adapter(settings, service)
        assert isinstance(adapter, TelegramAdapter)
        await adapter.start()
        stack.push_async_callback(adapter.stop)
        return RunningBot(settings, service, adapter, stack)

    yield start
    for stack in reversed(stacks):
        await stack.aclose()


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot()
