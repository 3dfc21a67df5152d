"""Start-up wiring: the old data is purged when the core starts, whichever way it runs."""

import asyncio

import pytest
from sqlalchemy import text

from bot.app import running_service
from bot.config import Settings
from storage import Store
from tests.core import photos
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
