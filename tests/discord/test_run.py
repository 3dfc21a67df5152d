"""`blipbot run` proper: config -> store -> tiny model -> worker -> service -> Discord, and a clean stop.

The engine `blipbot run` loads is wrapped in `RecordingEngine`, so the test sees the prompts it built.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

import bot.app.runner
from bot.app.config import Settings
from bot.app.runner import run_bots
from bot.discord.commands import DESCRIBE_MENU
from inference.types import Engine
from tests.discord.driver import Driver
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.engine import RecordingEngine


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[RecordingEngine]:
    """The engines `blipbot run` loads (the real tiny model), each behind a recorder."""
    engines: list[RecordingEngine] = []
    load = bot.app.runner.load_configured_engine

    async def load_recorded(settings: Settings) -> Engine:
        engines.append(RecordingEngine(await load(settings)))
        return engines[-1]

    monkeypatch.setattr(bot.app.runner, "load_configured_engine", load_recorded)
    return engines


async def test_blipbot_run_answers_slash_commands_and_the_menu_then_stops(
    fake: FakeDiscord,
    driver: Driver,
    loaded: list[RecordingEngine],
    tiny_blip2_dir: Path,
    tmp_path: Path,
) -> None:
    database = tmp_path / "blipbot.sqlite3"
    settings = Settings(
        discord={"token": fake.token, "state_dir": str(tmp_path / "state")},
        inference={
            "model": str(tiny_blip2_dir),
            "device": "cpu",
            "caption_beams": 1,
            "caption_max_new_tokens": 6,
            "answer_beams": 1,
            "answer_max_new_tokens": 4,
        },
        storage={"url": f"sqlite+aiosqlite:///{database}"},
    )
    stop = asyncio.Event()
    run = asyncio.create_task(run_bots(settings, stop_event=stop))
    await fake.wait_until_ready(timeout=60)

    describe, callback = await driver.command("describe", {"image": driver.photo()})
    assert callback.json["type"] == 5
    caption = (await driver.followup(describe)).json["content"]

    [engine] = loaded
    first_question, second_question = "what is in the picture?", "what colour is it?"
    engine.script("a red door")  # the random model's words would make a weak history check
    ask, callback = await driver.command("ask", {"question": first_question})
    assert callback.json["type"] == 5
    first_answer = (await driver.followup(ask)).json["content"]
    assert first_answer == "A red door."

    ask, _ = await driver.command("ask", {"question": second_question})
    assert (await driver.followup(ask)).json["content"]
    # The follow-up carries the first exchange, as BLIP-2's VQA prompt expects it.
    assert engine.prompts[-1] == (
        f"Question: {first_question} Answer: {first_answer} Question: {second_question} Answer:"
    )

    target = fake.message(fake.channel_id, "look", fake.user("bob"), attachments=[driver.photo(seed=3)])
    menu = fake.context_menu(DESCRIBE_MENU, target)
    assert (await driver.invoke(menu)).json["type"] == 5
    assert (await driver.followup(menu)).json["content"]

    stop.set()
    assert await asyncio.wait_for(run, 15) == 0

    with sqlite3.connect(database) as conn:
        turns = conn.execute("SELECT kind, question, answer FROM turns ORDER BY id").fetchall()
        images = conn.execute("SELECT count(*) FROM images").fetchone()[0]
    assert [(kind, question) for kind, question, _ in turns] == [
        ("caption", None),
        ("question", first_question),
        ("question", second_question),
        ("caption", None),
    ]
    assert turns[0][2] == caption
    assert turns[1][2] == first_answer
    assert images == 2
