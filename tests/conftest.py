"""Shared fixtures: tiny random-weight models saved to disk once per session, and test photos.

The models are built by `inference.bench.random_model` (no downloads), and torch is imported only
when a test asks for one, so the tests that need no model stay fast.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import NullPool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from inference.streams import StreamNames
from storage.engine import create_engine
from tests.fakes.services import POSTGRES_CONNECT_TIMEOUT_S, POSTGRES_URL, REDIS_URL, running_in_ci

if TYPE_CHECKING:
    from inference.blip2 import Blip2Engine


def make_photo(
    seed: int = 0, size: tuple[int, int] = (64, 48), color: tuple[int, int, int] | None = None
) -> Image.Image:
    """An RGB picture: a base colour (from `seed` unless given) under seeded noise and a few blocks."""
    rng = random.Random(seed)
    base = color or (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    width, height = size
    noise = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(width * height * 3)))
    image = Image.blend(Image.new("RGB", size, base), noise, 0.35)
    for _ in range(3):
        left, top = rng.randrange(width), rng.randrange(height)
        block = (left, top, min(width, left + width // 3), min(height, top + height // 3))
        image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), block)
    return image


@pytest.fixture(name="make_photo")
def make_photo_fixture() -> Callable[..., Image.Image]:
    return make_photo


@pytest.fixture(scope="session")
def tiny_blip2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BLIP-2 with an OPT language model, saved as `from_pretrained` expects."""
    from inference.bench.random_model import save_blip2

    return save_blip2(tmp_path_factory.mktemp("tiny-blip2-opt"), "tiny", "opt")


@pytest.fixture(scope="session")
def tiny_blip2_t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BLIP-2 with a Flan-T5-style language model."""
    from inference.bench.random_model import save_blip2

    return save_blip2(tmp_path_factory.mktemp("tiny-blip2-t5"), "tiny", "t5")


@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BLIP (v1) captioner."""
    from inference.bench.random_model import save_blip

    return save_blip(tmp_path_factory.mktemp("tiny-blip"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_blip2_dir: Path) -> Blip2Engine:
    """The OPT BLIP-2 above, loaded on the CPU. Shared: tests must not leave changes on it."""
    from inference.blip2 import Blip2Engine
    from inference.model import load_engine

    engine = load_engine(str(tiny_blip2_dir), device="cpu")
    assert isinstance(engine, Blip2Engine)
    return engine


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
async def redis() -> AsyncIterator[Redis]:
    """A client of the local Redis; fails (in CI) or skips (elsewhere) when it is not running."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except RedisError as error:
        await client.aclose()
        message = f"Redis at {REDIS_URL} is unreachable: {error!r}"
        if running_in_ci():
            pytest.fail(message)
        pytest.skip(message)
    yield client
    await client.aclose()


@pytest.fixture
async def names(redis: Redis) -> AsyncIterator[StreamNames]:
    """Stream and key names under a prefix of this test's own, all deleted afterwards."""
    names = StreamNames(f"test-{uuid.uuid4().hex[:8]}")
    yield names
    keys = [key async for key in redis.scan_iter(f"{names.prefix}:*")]
    if keys:
        await redis.delete(*keys)
