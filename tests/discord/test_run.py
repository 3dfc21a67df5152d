"""`blipbot run` proper: config -> store -> tiny model -> worker -> service -> Discord, and a clean stop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.config import Settings
from bot.discord_commands import DESCRIBE_MENU
from bot.runner import run_bots
from tests.discord.driver import Driver
from tests.fakes.discord_api import FakeDiscord


async def test_blipbot_run_answers_slash_commands_and_the_menu_then_stops(
    fake: FakeDiscord, driver: Driver, tiny_blip2_dir: Path, tmp_path: Path
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

    ask, callback = await driver.command("ask", {"question": "what is in the picture?"})
    assert callback.json["type"] == 5
    assert (await driver.followup(ask)).json["content"]

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
        ("question", "what is in the picture?"),
        ("caption", None),
    ]
    assert turns[0][2] == caption
    assert images == 2
