"""PostgreSQL going away and coming back: the person hears "try again shortly", nothing crashes,
and the bot answers again without a restart. The outage is real: a proxy in front of the local
PostgreSQL is cut and restored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from bot.core import texts
from bot.core.preferences import Preferences
from bot.core.service import ChatService, ServiceOptions
from bot.core.types import ChatRef, ReplyKind
from inference.worker import InferenceWorker
from storage import Store
from tests.fakes import photos
from tests.fakes.engine import FakeEngine
from tests.fakes.tcp_proxy import CuttableProxy

ALICE = ChatRef("test", "chat-a", "alice")


@pytest.fixture
async def proxied_store(postgresql_url: str) -> AsyncIterator[tuple[Store, CuttableProxy]]:
    url = make_url(postgresql_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    store = await Store.open(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    yield store, proxy
    await proxy.cut()
    await store.close()


async def test_a_database_outage_says_try_again_then_answers_again(proxied_store):
    store, proxy = proxied_store
    engine = FakeEngine()
    worker = InferenceWorker(engine, batch_wait_ms=0)
    await worker.start()
    service = ChatService(
        store, worker, ServiceOptions(request_timeout_s=5, preferences=Preferences(detail="brief"))
    )
    try:
        assert (await service.describe_photo(ALICE, photos.jpeg(seed=1))).kind is ReplyKind.ANSWER
        await proxy.cut()
        down = await service.describe_photo(ALICE, photos.jpeg(seed=2))
        assert (down.kind, down.text) == (ReplyKind.ERROR, texts.UNAVAILABLE)
        assert (await service.ask(ALICE, "still there?")).text == texts.UNAVAILABLE
        await proxy.restore()
        back = await service.describe_photo(ALICE, photos.jpeg(seed=3))
        assert back.kind is ReplyKind.ANSWER, back.text
    finally:
        await worker.stop()
