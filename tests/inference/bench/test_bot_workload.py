"""`blipbot bench --workload bot` on the tiny model: its figures, its identity check, its refusals.

Random weights say random words, so nothing here looks at the words: the bench must report every
field, serve both ways token for token alike, and fail when one answer is made to differ.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from inference.bench.random_model import build_blip2
from inference.bench.runner import EXIT_MISMATCH, EXIT_USAGE, run_bench, speak_the_tokenizer
from inference.bench.workload import BotWorkload, poisson_arrivals
from inference.blip2 import Blip2Engine
from inference.joint_serving import GenerationPlan
from inference.prompts import DETAIL_QUESTIONS
from inference.types import GenerationOptions, GenerationResult

ROOT = Path(__file__).resolve().parents[3]
#: Short answers keep the tiny runs quick; 2 beams still goes through the beam-search path.
WORKLOAD = BotWorkload(
    caption=GenerationOptions(num_beams=2, max_new_tokens=5),
    answer=GenerationOptions(num_beams=2, max_new_tokens=3),
)
BOT_FIELDS = {
    "naive_photos_per_s",
    "blipbot_photos_per_s",
    "photo_speedup",
    "batch_ceiling",
    "description_p50_ms",
    "description_p95_ms",
    "idle_description_p50_ms",
    "followup_speedup",
    "load_description_p50_ms",
    "load_description_p95_ms",
    "load_p95_over_idle_p50",
    "token_match_rate",
    "prefix_cache",
}


async def bench(engine: Blip2Engine | None = None, **overrides: object) -> int:
    arguments: dict[str, object] = dict(
        size="tiny", users=3, followups=1, max_new_tokens=4, device="cpu", precision="fp32", json_path=None,
        bot_workload=WORKLOAD, load_photos=3, engine=engine,
    )  # fmt: skip
    arguments.update(overrides)
    return await run_bench(**arguments)  # type: ignore[arg-type]


async def test_the_bot_workload_reports_photos_descriptions_ceiling_and_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"

    assert await bench(json_path=out) == 0

    results = json.loads(out.read_text())
    assert results.keys() >= BOT_FIELDS
    assert results["workload"] == "bot" and results["requests_per_photo"] == 1 + len(DETAIL_QUESTIONS)
    # The crowd's 3 descriptions and 3 follow-ups, and the 5 people alone: every request compared.
    assert results["requests_compared"] == 3 * 5 + 3 * 1 + 5 * 5
    assert results["requests_identical_to_naive"] == results["requests_compared"]
    assert results["caption_beams"] == 2 and results["answer_new_tokens"] == 3  # the options given
    assert results["load_photos"] == 3 and results["arrival_rate_per_s"] > 0
    assert results["prefix_cache"]["hits"] > 0  # follow-ups continued from their photo's prefix
    assert results["batch_ceiling"] > 0 and results["description_p95_ms"] >= results["description_p50_ms"]
    printed = capsys.readouterr().out
    assert "photo_speedup" in printed and "load_p95_over_idle_p50" in printed


class PerturbingEngine(Blip2Engine):
    """The real engine, but one answer about the people in a photo comes back one token off.

    The first such question is the bench's warm-up (not compared); the second is a person's.
    """

    asked = 0
    perturbed = 0

    def results(self, plan: GenerationPlan, output: Any) -> list[GenerationResult]:
        """Every decode's answers pass here, plain `generate` or joint."""
        results = super().results(plan, output)
        for index, (request, result) in enumerate(zip(plan.requests, results, strict=True)):
            if DETAIL_QUESTIONS["people"] in request.prompt:
                self.asked += 1
                if self.asked == 2:
                    changed = (result.token_ids[0] + 1, *result.token_ids[1:])
                    results[index] = dataclasses.replace(result, token_ids=changed)
                    self.perturbed += 1
        return results


async def test_one_answer_that_differs_from_the_naive_loop_fails_the_bench(
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, processor = build_blip2("tiny")
    speak_the_tokenizer(model, len(processor.tokenizer))
    engine = PerturbingEngine(model, processor, "cpu", name="perturbing", embedding_cache_mb=16)

    status = await bench(engine, load_photos=0)

    assert engine.perturbed == 1
    assert status == EXIT_MISMATCH
    assert "1 of 43 answers differ from the naive loop's token ids" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--beams", "0", "--beams must be at least 1"),
        ("--max-new-tokens", "0", "--max-new-tokens must be at least 1"),
    ],
)
def test_bad_arguments_get_one_line_and_exit_2(flag: str, value: str, message: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.app.cli", "bench", "--size", "tiny", "--device", "cpu", flag, value],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == EXIT_USAGE
    assert result.stderr.splitlines() == [f"blipbot bench: {message}"]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"users": 0}, "--users must be at least 1"),
        ({"arrival_rate": -1.0}, "--arrival-rate must be 0 (no load phase) or more"),
        ({"workload": "photos"}, "--workload must be bot or answers, not 'photos'"),
    ],
)
async def test_bad_values_are_refused_before_any_model_is_built(
    overrides: dict[str, object], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await bench(**overrides) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [f"blipbot bench: {message}"]


def test_poisson_arrivals_keep_their_mean_rate_and_order() -> None:
    times = poisson_arrivals(2000, rate_per_s=4.0)
    assert times == sorted(times) and times[0] == 0.0
    assert 2000 / times[-1] == pytest.approx(4.0, rel=0.1)
