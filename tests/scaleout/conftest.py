"""The pieces every scale-out test starts from: a deployment, its processes, a fake Telegram or Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inference.streams import StreamNames
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.services import REDIS_URL
from tests.fakes.telegram_api import FakeTelegram
from tests.scaleout.processes import BlipbotProcess, Deployment


@pytest.fixture
async def deployment(
    names: StreamNames, postgresql_url: str, tiny_blip2_dir: Path, tmp_path: Path
) -> Deployment:
    return Deployment(postgresql_url, REDIS_URL, names, tiny_blip2_dir, tmp_path)


@pytest.fixture
async def processes() -> AsyncIterator[list[BlipbotProcess]]:
    started: list[BlipbotProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A FakeDiscord for a `blipbot run` process, which is pointed at it by address (no patching here)."""
    async with FakeDiscord() as fake:
        yield fake
