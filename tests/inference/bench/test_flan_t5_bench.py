"""`blipbot bench --language-model t5`: the bench on a random BLIP-2 with a Flan-T5 language model.

Flan-T5 is an encoder-decoder: no key/value prefix reuse, its own untied `lm_head`, and no fp16
(it overflows; `resolve_placement` gives bf16). These run on the tiny model on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bot.app.cli import build_parser
from inference.bench.random_model import blip2_config, build_blip2
from inference.bench.runner import build_engine, run_bench, speak_the_tokenizer


def test_the_language_model_names_are_the_text_configs_model_types() -> None:
    # build_engine hands the name to resolve_placement, which reads it as a `model_type`.
    assert blip2_config("tiny", "t5").text_config.model_type == "t5"
    assert blip2_config("tiny", "opt").text_config.model_type == "opt"


def test_build_engine_makes_a_flan_t5_model() -> None:
    engine = build_engine(
        "tiny", "cpu", "fp16", embedding_cache_mb=0, static_cache=False, compile=False, language_model="t5"
    )

    assert engine.model.config.text_config.model_type == "t5"
    assert engine.name == "random-tiny-t5"
    assert (engine.device.type, engine.model.dtype) == ("cpu", torch.float32)  # the CPU runs fp32
    assert not engine.prefixes.enabled  # an encoder-decoder keeps no key/value prefixes


def test_ids_the_tokenizer_cannot_decode_score_zero_in_flan_t5s_lm_head() -> None:
    model, _ = build_blip2("tiny", "t5")

    speak_the_tokenizer(model, 10)

    scores = model.language_model.lm_head.weight
    assert torch.count_nonzero(scores[10:]) == 0
    assert torch.count_nonzero(scores[:10]) > 0


def test_the_bench_command_takes_the_language_model() -> None:
    parser = build_parser()

    assert parser.parse_args(["bench"]).language_model == "opt"
    assert parser.parse_args(["bench", "--language-model", "t5"]).language_model == "t5"
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "--language-model", "llama"])


async def test_the_flan_t5_bot_bench_writes_its_results(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"

    status = await run_bench(
        size="tiny",
        users=2,
        followups=1,
        max_new_tokens=4,
        device="cpu",
        precision="fp32",
        json_path=out,
        language_model="t5",
    )

    results = json.loads(out.read_text())
    assert (results["users"], results["followups"], results["workload"]) == (2, 1, "bot")
    assert results["requests_compared"] > 0
    assert results["requests_identical_to_naive"] == results["requests_compared"]
    assert results["language_model"] == "t5"
    assert results["prefix_cache"] == {"hits": 0, "misses": 0, "evictions": 0}
    assert status == 0


async def test_flan_t5_answers_are_the_naive_loops(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"

    status = await run_bench(
        size="tiny",
        users=2,
        followups=1,
        max_new_tokens=4,
        device="cpu",
        precision="fp32",
        json_path=out,
        workload="answers",
        language_model="t5",
    )

    results = json.loads(out.read_text())
    assert results["answers_identical_to_naive"] == results["answers"] == 4
    assert status == 0
