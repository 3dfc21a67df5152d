"""The Discord adapter against FakeDiscord, a fresh SQLite store, a real worker and the tiny BLIP-2.

The model sits behind `RecordingEngine`, which records every request (so tests assert exact prompts,
never the random model's words), can script the answer text and can hold generation at a gate.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.discord import DiscordAdapter, build_adapter
from bot.preferences import Preferences
from bot.service import ChatService, ServiceOptions
from inference.ocr import OcrResult
from inference.types import GenerationOptions, GenerationRequest, GenerationResult
from inference.worker import InferenceWorker
from storage import Store
from tests.discord.driver import Driver
from tests.fakes.discord_api import FakeDiscord, patch_discord

#: Short greedy decoding: the tiny model answers in milliseconds.
CAPTION_OPTIONS = GenerationOptions(num_beams=1, max_new_tokens=6)
ANSWER_OPTIONS = GenerationOptions(num_beams=1, max_new_tokens=4)
#: A description is one request (brief), and the random model's doubt never rewords an answer.
SERVICE_OPTIONS = ServiceOptions(
    caption_options=CAPTION_OPTIONS,
    answer_options=ANSWER_OPTIONS,
    photos_per_minute=100,
    request_timeout_s=10.0,
    preferences=Preferences(detail="brief"),
    low_confidence_logprob=float("-inf"),
)
#: What the stand-in OCR "reads" in every picture (full detail asks for it).
OCR_TEXT = "OPEN 9 TO 5"


class RecordingEngine:
    """A real engine behind a recorder: `requests` in order, `script()` to set the next answers'
    text, and `hold()`/`release()` to keep generation waiting (for queue and shutdown tests)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.requests: list[GenerationRequest] = []
        self._scripted: deque[str] = deque()
        self._gate = threading.Event()
        self._gate.set()
        self.entered = threading.Event()

    @property
    def name(self) -> str:
        return self._engine.name

    @property
    def can_answer_questions(self) -> bool:
        return self._engine.can_answer_questions

    def forget(self, image_keys: list[str]) -> None:
        self._engine.forget(image_keys)

    def count_tokens(self, text: str) -> int:
        return self._engine.count_tokens(text)

    @property
    def prompt_budget_tokens(self) -> int:
        return self._engine.prompt_budget_tokens

    @property
    def prompts(self) -> list[str]:
        return [request.prompt for request in self.requests]

    def script(self, *answers: str) -> None:
        self._scripted.extend(answers)

    def hold(self) -> None:
        self.entered.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        self.requests.extend(requests)
        self.entered.set()
        self._gate.wait(timeout=30)
        results = self._engine.generate_batch(requests)
        return [self._scripted_result(result) for result in results]

    def _scripted_result(self, result: GenerationResult) -> GenerationResult:
        if not self._scripted:
            return result
        text = self._scripted.popleft()
        return GenerationResult(text=text, new_tokens=len(text.split()), generation_ms=result.generation_ms)


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
        engine,
        service_options,
        ocr=lambda image, language: OcrResult(OCR_TEXT, confidence=90.0),
        ocr_languages=lambda: ["eng"],
    )
    engine.release()
    await worker.stop()


def discord_settings(fake: FakeDiscord, state_dir: Path, **discord: Any) -> Settings:
    return Settings(
        discord={"token": fake.token, "state_dir": str(state_dir), **discord},
        inference={"request_timeout_s": 10.0},
    )


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
