"""Fixtures of the core's tests: a fresh SQLite store, a scripted engine and a service over both."""

import pytest

from bot.core.preferences import Preferences
from bot.core.service import ChatService, ServiceOptions
from inference.worker import InferenceWorker
from storage import Store
from tests.fakes.engine import FakeEngine


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/blipbot.sqlite3")
    yield store
    await store.close()


@pytest.fixture
def engine():
    return FakeEngine()


@pytest.fixture
async def brief_service(store, engine):
    """A service giving brief descriptions (one request a photo), generous with photos a minute."""
    worker = InferenceWorker(engine, queue_size=8, max_batch_size=4, batch_wait_ms=0)
    await worker.start()
    options = ServiceOptions(
        photos_per_minute=20, request_timeout_s=5, preferences=Preferences(detail="brief")
    )
    yield ChatService(store, worker, options)
    await worker.stop()
