"""`storage.engine`: URL handling, and the migrations building exactly the schema the models describe."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from storage.engine import async_url, create_engine, migrations_config, upgrade
from storage.models import Base


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/blipbot.sqlite3", "sqlite+aiosqlite:///data/blipbot.sqlite3"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://bot@db/blipbot", "postgresql+asyncpg://bot@db/blipbot"),
        ("postgres://bot@db/blipbot", "postgresql+asyncpg://bot@db/blipbot"),
        ("postgresql+asyncpg://bot@db/blipbot", "postgresql+asyncpg://bot@db/blipbot"),
    ],
)
def test_async_url_picks_an_async_driver(given: str, expected: str) -> None:
    assert async_url(given).render_as_string(hide_password=False) == expected


def test_async_url_refuses_other_databases() -> None:
    with pytest.raises(ValueError, match="mysql"):
        async_url("mysql://bot@db/blipbot")


async def test_migrations_match_the_models(store_url: str) -> None:
    """A model change without a migration (or the reverse) shows up here, not in production."""
    engine = create_engine(store_url)
    try:
        await upgrade(engine)

        def differences(connection: Connection) -> list[object]:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)

        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_migrations_downgrade_and_upgrade_again(store_url: str) -> None:
    """The downgrade path works too (it must undo the chats <-> images cycle in the right order)."""
    engine = create_engine(store_url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(migrations_config(sync), "base"))
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        assert set(tables) <= {"alembic_version"}
        await upgrade(engine)
    finally:
        await engine.dispose()


async def test_processes_starting_together_on_a_fresh_postgresql_migrate_one_after_another(postgresql_url):
    import asyncio

    from storage import Store

    stores = await asyncio.gather(*(Store.open(postgresql_url) for _ in range(4)))
    try:
        chats = {await store.chat_id("test", "same") for store in stores}
        assert len(chats) == 1, "one schema, one chat, whoever migrated it"
    finally:
        for store in stores:
            await store.close()
