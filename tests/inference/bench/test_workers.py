"""`blipbot bench --workers 2` end to end on the tiny model: real worker processes over the local Redis.

Asserts that the report is complete and its figures sane, never the speed itself (CI machines
differ); the speed is measured by hand (see `inference.bench.scaleout`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from inference.bench.runner import run_bench

REDIS_URL = "redis://127.0.0.1:6379/0"
EXPECTED_KEYS = {
    "answers",
    "answers_per_s_1_worker",
    "answers_per_s_n_workers",
    "scaleout_speedup",
    "followup_cache_hit_rate",
    "answers_per_worker",
    "workers",
    "machine",
}


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as error:  # pragma: no cover - CI starts Redis; say so clearly if it did not
        pytest.fail(f"the local Redis is not running at {REDIS_URL}: {error}")
    yield client
    await client.aclose()


async def test_two_worker_processes_answer_the_crowd_and_report_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], redis: Redis
) -> None:
    out = tmp_path / "bench.json"
    keys_before = {key async for key in redis.scan_iter("bench-*")}

    status = await run_bench(
        size="tiny",
        users=2,
        followups=1,
        max_new_tokens=4,
        device="cpu",
        precision="fp32",
        json_path=out,
        workers=2,
        redis_url=REDIS_URL,
    )

    assert status == 0
    results = json.loads(out.read_text())
    assert results.keys() >= EXPECTED_KEYS
    assert results["workers"] == 2
    assert results["answers"] == results["answers_1_worker"] == 2 * (1 + 1)
    assert sum(results["answers_per_worker"]) == results["answers"]
    assert 0 <= results["followup_cache_hit_rate"] <= 1
    assert results["answers_per_s_1_worker"] > 0 and results["answers_per_s_n_workers"] > 0
    assert results["scaleout_speedup"] > 0
    assert results["machine"]
    assert "scaleout_speedup" in capsys.readouterr().out
    assert {key async for key in redis.scan_iter("bench-*")} <= keys_before, "the run's keys are deleted"


async def test_an_unreachable_redis_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    status = await run_bench(
        size="tiny",
        users=1,
        followups=0,
        max_new_tokens=2,
        device="cpu",
        precision="fp32",
        json_path=None,
        workers=2,
        redis_url="redis://127.0.0.1:1/0",
    )

    assert status == 1
    assert "cannot reach Redis" in capsys.readouterr().err
