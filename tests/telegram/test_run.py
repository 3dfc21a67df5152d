"""`blipbot run` proper: `run_bots` opens the store, loads the tiny model, runs Telegram, stops on request."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from bot.app import runner
from bot.app.config import Settings
from bot.app.runner import run_bots
from bot.core import texts
from inference.types import Engine
from tests.fakes import photos
from tests.fakes.engine import RecordingEngine
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import GROUP, PRIVATE, assert_silent, quoted, reply_to

START_TIMEOUT_SECONDS = 60.0  # loading the tiny model is quick; this only bounds a hang
STOP_TIMEOUT_SECONDS = 10.0


def run_settings(tg: FakeTelegram, model_dir: Path, db_path: Path) -> Settings:
    return Settings(
        telegram={"token": tg.token, "base_url": tg.base_url, "base_file_url": tg.base_file_url},
        inference={"model": str(model_dir), "device": "cpu"},
        storage={"url": f"sqlite+aiosqlite:///{db_path}"},
    )


async def test_run_answers_photos_and_follow_ups_ignores_unaddressed_groups_and_stops(
    tg: FakeTelegram, tiny_blip2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines: list[RecordingEngine] = []
    load_real_engine = runner.load_configured_engine

    async def load_recorded_engine(settings: Settings) -> Engine:
        """The engine run_bots loads, wrapped so the prompts it is given are recorded."""
        engines.append(RecordingEngine(await load_real_engine(settings)))
        return engines[-1]

    monkeypatch.setattr(runner, "load_configured_engine", load_recorded_engine)
    db_path = tmp_path / "run.sqlite3"
    stop = asyncio.Event()
    run = asyncio.create_task(run_bots(run_settings(tg, tiny_blip2_dir, db_path), stop_event=stop))
    try:
        await tg.wait_for("setMyCommands", timeout=START_TIMEOUT_SECONDS)
        [engine] = engines
        engine.script("a red door")  # the first answer, in words the test knows

        photo = tg.send_photo(PRIVATE, photos.jpeg(), caption="what is in the picture?")
        assert quoted(await reply_to(tg, PRIVATE, timeout=30)) == photo["message_id"]
        tg.send_text(PRIVATE, "what colour is it?")
        await reply_to(tg, PRIVATE, timeout=30)
        assert engine.prompts == [
            "Question: what is in the picture? Answer:",
            "Question: what is in the picture? Answer: A red door. Question: what colour is it? Answer:",
        ]

        tg.send_photo(GROUP, photos.jpeg(seed=1), chat_type="supergroup")
        await assert_silent(tg, GROUP, wait_s=0.5)

        tg.send_photo(PRIVATE, photos.truncated_jpeg())
        complaint = await reply_to(tg, PRIVATE)
        assert "seems to be damaged" in complaint["text"]
        tg.send_command(PRIVATE, "/help")
        assert (await reply_to(tg, PRIVATE))["text"] == texts.HELP  # still up
    finally:
        stop.set()
        started = time.monotonic()
        assert await asyncio.wait_for(run, STOP_TIMEOUT_SECONDS) == 0
    assert time.monotonic() - started < 5

    with sqlite3.connect(db_path) as db:
        turns = db.execute("SELECT kind, question FROM turns ORDER BY id").fetchall()
    assert turns == [("question", "what is in the picture?"), ("question", "what colour is it?")]


async def test_run_stops_cleanly_on_sigterm(tg: FakeTelegram, tiny_blip2_dir: Path, tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    run = asyncio.create_task(run_bots(run_settings(tg, tiny_blip2_dir, tmp_path / "run.sqlite3")))
    await tg.wait_for("setMyCommands", timeout=START_TIMEOUT_SECONDS)
    if signal.getsignal(signal.SIGTERM) == before:  # no handler of run_bots': never kill the test run
        run.cancel()
        pytest.skip("run_bots could not install its signal handler here (not the main thread)")
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(run, STOP_TIMEOUT_SECONDS) == 0
