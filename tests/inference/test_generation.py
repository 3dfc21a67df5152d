"""The helpers both engines share around `generate`, on a tiny model's language model or plain stand-ins."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from inference.bench.random_model import build_blip2
from inference.generation import beam_width, eos_ids, read_generation
from inference.types import GenerationOptions


def test_read_generation_drops_what_follows_the_end_of_sequence() -> None:
    model, _ = build_blip2("tiny")
    vocab = model.config.text_config.vocab_size
    eos, pad = 2, 1
    # Two prompt columns, then three steps; row 0 stops at step 2, row 1 never stops.
    sequences = torch.tensor([[9, 9, 40, eos, pad], [9, 9, 41, 42, 43]])
    logits = [torch.zeros(2, vocab) for _ in range(3)]
    output = SimpleNamespace(sequences=sequences, scores=tuple(logits))

    first, second = read_generation(model.language_model, output, {eos})

    assert first.token_ids == [40]
    assert second.token_ids == [41, 42, 43]
    assert first.mean_logprob == pytest.approx(-math.log(vocab))


def test_sampling_keeps_one_sequence_per_request_whatever_the_beams() -> None:
    assert beam_width(GenerationOptions(num_beams=4)) == 4
    assert beam_width(GenerationOptions(num_beams=4, use_nucleus_sampling=True)) == 1


@pytest.mark.parametrize(("configured", "expected"), [(None, set()), (2, {2}), ([2, 7], {2, 7})])
def test_eos_ids_accepts_what_generation_configs_hold(configured: object, expected: set[int]) -> None:
    assert eos_ids(SimpleNamespace(eos_token_id=configured)) == expected
