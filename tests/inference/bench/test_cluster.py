"""The bench's worker processes: a worker that dies is reported with its log, never waited on forever.

The processes here are small Python one-liners, not model workers, so these tests take a second.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from inference.bench.cluster import WorkerCluster, WorkerFailed, WorkerSettings

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True, slots=True)
class ScriptSettings(WorkerSettings):
    """Runs `script` instead of a model worker (it gets the key prefix as its one argument)."""

    script: str = ""

    def command(self, prefix: str) -> list[str]:
        return [sys.executable, "-c", self.script, prefix]


def settings(script: str) -> ScriptSettings:
    return ScriptSettings(model_dir=Path(), redis_url=REDIS_URL, store_url="", script=script)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as error:  # pragma: no cover - CI starts Redis; say so clearly if it did not
        pytest.fail(f"the local Redis is not running at {REDIS_URL}: {error}")
    yield client
    await client.aclose()


async def test_a_worker_that_exits_while_starting_is_reported_with_its_log(
    redis: Redis, tmp_path: Path
) -> None:
    script = "import sys; print('no model here', file=sys.stderr); sys.exit(3)"
    cluster = WorkerCluster(redis, settings(script), 1, tmp_path)
    await cluster.start()
    try:
        with pytest.raises(WorkerFailed, match=r"(?s)status 3.*no model here"):
            await asyncio.wait_for(cluster.ready(), 10)
    finally:
        await cluster.stop()


async def test_a_worker_that_dies_mid_run_stops_the_run(redis: Redis, tmp_path: Path) -> None:
    # Joins the queue (as a ready worker does), then dies: its jobs would never be answered.
    script = (
        f"import sys, time, redis; r = redis.Redis.from_url({REDIS_URL!r}); "
        "r.sadd(sys.argv[1] + ':workers:known', 'w'); time.sleep(0.3); sys.exit(1)"
    )
    cluster = WorkerCluster(redis, settings(script), 1, tmp_path)
    await cluster.start()
    try:
        await asyncio.wait_for(cluster.ready(), 10)
        with pytest.raises(WorkerFailed, match="status 1"):
            await asyncio.wait_for(cluster.while_alive(asyncio.sleep(30)), 10)
    finally:
        await cluster.stop()
    assert [key async for key in redis.scan_iter(f"{cluster.names.prefix}:*")] == []


async def test_stop_ends_a_worker_that_is_still_running(redis: Redis, tmp_path: Path) -> None:
    cluster = WorkerCluster(redis, settings("import time; time.sleep(60)"), 2, tmp_path)
    await cluster.start()
    await asyncio.wait_for(cluster.stop(), 10)  # SIGTERM ends the sleep: no kill needed
    with pytest.raises(WorkerFailed, match="status -15"):
        cluster.check_alive()
