"""`blipbot bench --workload answers` end to end on the tiny model: it runs, and both ways agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inference.bench.runner import run_bench

EXPECTED_KEYS = {
    "naive_answers_per_s",
    "blipbot_answers_per_s",
    "speedup",
    "p50_ms",
    "p95_ms",
    "followup_speedup",
    "peak_memory_mb",
    "device",
    "size",
    "users",
    "followups",
}


async def test_the_tiny_bench_writes_its_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"

    status = await run_bench(
        size="tiny",
        users=3,
        followups=2,
        max_new_tokens=4,
        device="cpu",
        precision="fp32",
        json_path=out,
        workload="answers",
    )

    assert status == 0
    results = json.loads(out.read_text())
    assert results.keys() >= EXPECTED_KEYS
    assert (results["users"], results["followups"], results["answers"]) == (3, 2, 9)
    assert results["answers_identical_to_naive"] == 9
    assert results["prefix_cache"]["hits"] > 0
    assert "speedup" in capsys.readouterr().out


async def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status = await run_bench(
        size="tiny", users=1, followups=1, max_new_tokens=0, device="cpu", precision="fp32", json_path=None,
        workload="answers",
    )  # fmt: skip

    assert status == 2
    assert "--max-new-tokens" in capsys.readouterr().err
