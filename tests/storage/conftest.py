"""Fixtures for the storage tests: a migrated `Store` on a fresh SQLite file and on PostgreSQL.

Each PostgreSQL test gets a database of its own, created and dropped around it, so no table,
row or `alembic_version` can leak between tests (or between test runs that run side by side).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from storage import Store
from storage.engine import create_engine

POSTGRES_URL = os.environ.get(
    "BLIPBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
POSTGRES_CONNECT_TIMEOUT_S = 5


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def postgres_unavailable(error: BaseException) -> None:
    """Skip on a developer machine without PostgreSQL; fail in CI, which must exercise it."""
    message = f"PostgreSQL at {make_url(POSTGRES_URL)!r} is unreachable: {error!r}"
    if running_in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def postgresql_url() -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    server = create_engine(
        POSTGRES_URL,
        isolation_level="AUTOCOMMIT",  # CREATE/DROP DATABASE refuse to run in a transaction
        poolclass=NullPool,
        connect_args={"timeout": POSTGRES_CONNECT_TIMEOUT_S},
    )
    name = f"blipbot_test_{uuid.uuid4().hex}"
    try:
        async with server.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except (OSError, DBAPIError) as error:
        await server.dispose()
        postgres_unavailable(error)
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with server.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await server.dispose()


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
