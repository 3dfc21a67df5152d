"""Fixtures of the core's tests: a fresh SQLite store and a scripted engine."""

import pytest

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
