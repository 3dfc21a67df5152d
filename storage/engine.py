"""Building the async engine from a URL and bringing its schema to the newest migration.

SQLite gets WAL, enforced foreign keys and write-locking transactions on every connection;
PostgreSQL runs through asyncpg. Migrations run on the app's own connection at start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_PATH = Path(__file__).parent / "migrations"
#: Any fixed number: the PostgreSQL advisory lock that serialises migrations ("blipbot" in ASCII).
MIGRATION_LOCK_KEY = 0x626C6970626F74

# The async driver used when a URL names only the database ("sqlite:///x.db").
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


def async_url(url: str | URL) -> URL:
    """The URL with an async driver, so `sqlite:///x.db` and `postgresql://...` work as given.

    Fails fast on a backend the migrations were never run against, rather than at the first query.
    """
    parsed = make_url(url)
    backend = "postgresql" if parsed.get_backend_name() == "postgres" else parsed.get_backend_name()
    if backend not in ASYNC_DRIVERS:
        raise ValueError(f"storage url {parsed!r}: only sqlite and postgresql databases are supported")
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=f"{backend}+{ASYNC_DRIVERS[backend]}")
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The database file a SQLite URL names, or None for an in-memory database."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):  # a URI filename; leave it to SQLite
        return None
    return Path(url.database)


def create_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An engine for `url`, set up as `Store` relies on; build engines for `Store(engine)` here.

    For a SQLite file, its folder is created first (`data/` on a fresh host).
    """
    parsed = async_url(url)
    path = sqlite_file(parsed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    # Statement parameters hold photo bytes and users' questions: keep them out of logs and of
    # the text of database errors, which end up in logs.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() != "sqlite":  # a server that restarted: replace dead pooled connections
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Set up every new SQLite connection the way the store relies on.

    - WAL lets readers go on while a write commits.
    - SQLite ignores foreign keys unless asked, per connection; the cascades need them.
    - The driver normally opens a transaction lazily at the first write, so a read-then-write
      (get-or-create, settings merge) reads outside it and two of them can interleave or fail
      with "database is locked" on the lock upgrade. Taking the write lock at BEGIN serialises
      the store's transactions, each a few milliseconds, and makes them atomic, migrations too.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # Under a burst, writers queue for the one write lock: wait for it up to 30 s (the
            # driver's default is 5 s), rather than apologising to people whose turn would come.
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def migrations_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code (no alembic.ini), pointing at the packaged migrations.

    With a connection, `migrations/env.py` migrates on it instead of opening its own.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply every migration not yet applied, in one transaction; a no-op when up to date.

    Front ends and workers often start together on one fresh PostgreSQL database: an advisory
    lock held for the transaction makes them migrate one after another (the later ones then find
    nothing to do) instead of racing to create the same tables.
    """

    def run(connection: Connection) -> None:
        command.upgrade(migrations_config(connection), revision)

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await connection.run_sync(run)
