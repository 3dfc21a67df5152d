"""The Discord adapter against FakeDiscord, a fresh SQLite store, a real worker and the tiny BLIP-2.

The model sits behind `tests.fakes.engine.RecordingEngine`, which records every request (so tests
assert exact prompts, never the random model's words), can script answers and hold generation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.core.service import ChatService, ServiceOptions
from bot.discord import DiscordAdapter, build_adapter
from inference.ocr import OcrResult
from inference.worker import InferenceWorker
from storage import Store
from tests.discord.driver import Driver
from tests.discord.harness import OCR_TEXT, SERVICE_OPTIONS, discord_settings
from tests.fakes.discord_api import FakeDiscord, patch_discord
from tests.fakes.engine import RecordingEngine


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        with patch_discord(fake):
            yield fake


@pytest.fixture
def driver(fake: FakeDiscord) -> Driver:
    return Driver(fake)


@pytest.fixture
def engine(tiny_engine: Any) -> RecordingEngine:
    return RecordingEngine(tiny_engine)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/blipbot.sqlite3")
    yield store
    await store.close()


@pytest.fixture
def service_options() -> ServiceOptions:
    return SERVICE_OPTIONS


@pytest.fixture
async def service(
    store: Store, engine: RecordingEngine, service_options: ServiceOptions
) -> AsyncIterator[ChatService]:
    worker = InferenceWorker(engine, queue_size=32, max_batch_size=8, batch_wait_ms=0)
    await worker.start()
    yield ChatService(
        store,
        worker,
        service_options,
        ocr=lambda image, language: OcrResult(OCR_TEXT, confidence=90.0),
        ocr_languages=lambda: ["eng"],
    )
    engine.release()
    await worker.stop()


StartAdapter = Callable[..., Awaitable[DiscordAdapter]]


@pytest.fixture
async def start_adapter(
    fake: FakeDiscord, service: ChatService, tmp_path: Path
) -> AsyncIterator[StartAdapter]:
    """Start the real adapter (as `blipbot run` would build it) with discord config overrides."""
    started: list[DiscordAdapter] = []

    async def start(**discord: Any) -> DiscordAdapter:
        adapter = build_adapter(discord_settings(fake, tmp_path / "state", **discord), service)
        assert isinstance(adapter, DiscordAdapter)
        await adapter.start()
        started.append(adapter)
        return adapter

    yield start
    for adapter in started:
        await adapter.stop()


@pytest.fixture
async def adapter(start_adapter: StartAdapter) -> DiscordAdapter:
    return await start_adapter()
