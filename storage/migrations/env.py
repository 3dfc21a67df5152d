"""Alembic environment: migrate on the connection the app passes in, or on `-x url=...`.

The app runs `storage.engine.upgrade`, which puts its open connection into
`config.attributes["connection"]` (the cookbook's "sharing a connection" recipe). Logging is
left as the app configured it: no `fileConfig` here.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, pool

from storage.engine import async_url, create_engine
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    """Migrate on an open connection; inside the caller's transaction when it has one."""
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


def command_line_url() -> str:
    """The database to migrate when run by the `alembic` command rather than by the app."""
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database: pass -x url=sqlite:///data/blipbot.sqlite3 (or set sqlalchemy.url)")
    return url


def run_offline() -> None:
    """Write the SQL for a database that this machine cannot reach (`alembic upgrade --sql`)."""
    context.configure(
        url=async_url(command_line_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    """Migrate the `-x url` database through the same engine setup the app uses."""
    engine = create_engine(command_line_url(), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


shared_connection = config.attributes.get("connection")
if shared_connection is not None:
    run_migrations(shared_connection)
elif context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
