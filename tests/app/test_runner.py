"""`blipbot run`'s wiring: the platforms it names, and the old data purged when the core starts."""

import asyncio

import httpx
import pytest
from sqlalchemy import text

from bot.api.server import ApiServer
from bot.app import runner
from bot.app.config import Settings
from bot.app.platforms import PLATFORMS, configured_platforms
from bot.app.runner import run_api, running_service
from bot.core import ConfigError
from storage import Store
from tests.fakes import photos
from tests.fakes.engine import FakeEngine


async def aged_photo(url: str) -> None:
    store = await Store.open(url)
    try:
        chat = await store.chat_id("test", "a")
        await store.add_image(chat, photos.jpeg(), "image/jpeg", 64, 48)
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE images SET created_at = '2000-01-01 00:00:00'"))
    finally:
        await store.close()


@pytest.mark.parametrize("retention", [False, True], ids=["terminal", "bots"])
async def test_photos_past_retention_are_deleted_at_start(tmp_path, retention):
    url = f"sqlite+aiosqlite:///{tmp_path}/b.sqlite3"
    await aged_photo(url)
    settings = Settings(storage={"url": url})
    async with running_service(settings, engine=FakeEngine(), retention=retention) as service:
        for _ in range(50):
            async with service.store.engine.connect() as conn:
                left = (await conn.execute(text("SELECT count(*) FROM images"))).scalar_one()
            if left == 0:
                break
            await asyncio.sleep(0.02)
    assert left == 0


def test_the_runner_names_its_platforms_in_one_list():
    assert list(PLATFORMS) == ["telegram", "discord"]
    for name, platform in PLATFORMS.items():
        assert platform.__name__ == f"bot.{name}"
        assert callable(platform.is_configured) and callable(platform.build_adapter)


def test_only_platforms_with_a_token_are_configured():
    assert configured_platforms(Settings()) == []
    assert configured_platforms(Settings(telegram={"token": "1:a"})) == ["telegram"]
    assert configured_platforms(Settings(telegram={"token": "1:a"}, discord={"token": "d"})) == [
        "telegram",
        "discord",
    ]


async def test_run_with_api_enabled_serves_the_api_beside_the_platforms_and_stops_cleanly(
    tmp_path, monkeypatch
):
    url = f"sqlite+aiosqlite:///{tmp_path}/b.sqlite3"
    settings = Settings(storage={"url": url}, api={"enabled": True, "tokens": ["t0k3n-abc"], "port": 0})
    started: list[ApiServer] = []

    async def fake_engine(_settings):
        return FakeEngine()

    monkeypatch.setattr(runner, "load_configured_engine", fake_engine)
    real_start = runner.api_server

    def remember(settings, service):
        server = real_start(settings, service)
        started.append(server)
        return server

    monkeypatch.setattr(runner, "api_server", remember)
    stop = asyncio.Event()
    run = asyncio.create_task(runner.run_bots(settings, stop_event=stop))
    for _ in range(200):
        if started and started[0].server.started:
            break
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=started[0].url) as http:
        health = await http.get("/healthz")
        refused = await http.get("/v1/predictions")
    stop.set()
    assert await asyncio.wait_for(run, 30) == 0
    assert health.status_code == 200 and health.json()["model"] == "fake-engine"
    assert refused.status_code == 401


async def test_an_api_without_tokens_is_refused_before_the_model_loads(tmp_path):
    settings = Settings(storage={"url": f"sqlite+aiosqlite:///{tmp_path}/b.sqlite3"})
    with pytest.raises(ConfigError, match=r"api\.tokens is empty"):
        await run_api(settings, stop_event=asyncio.Event())
