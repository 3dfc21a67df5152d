"""Fixtures for the storage tests: a migrated `Store` on a fresh SQLite file and on PostgreSQL.

Each PostgreSQL test gets a database of its own (`postgresql_url`, in tests/conftest.py), so no
table, row or `alembic_version` can leak between tests (or between test runs side by side).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import Store


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'blipbot.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """One database URL per backend; tests that take it (or `store`) run on both."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    store = await Store.open(store_url)
    try:
        yield store
    finally:
        await store.close()
