"""The helpers both engines share around `generate`, on a tiny model's language model or plain stand-ins."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from inference.bench.random_model import build_blip2
from inference.generation import beam_width, eos_ids, read_generation, transition_log_probs
from inference.types import GenerationOptions


def test_read_generation_drops_what_follows_the_end_of_sequence() -> None:
    model, _ = build_blip2("tiny")
    vocab = model.config.text_config.vocab_size
    eos, pad = 2, 1
    # Two prompt columns, then three steps; row 0 stops at step 2, row 1 never stops.
    sequences = torch.tensor([[9, 9, 40, eos, pad], [9, 9, 41, 42, 43]])
    logits = [torch.zeros(2, vocab) for _ in range(3)]
    output = SimpleNamespace(sequences=sequences, scores=tuple(logits))

    first, second = read_generation(output, {eos})

    assert first.token_ids == [40]
    assert second.token_ids == [41, 42, 43]
    assert first.mean_logprob == pytest.approx(-math.log(vocab))


@pytest.mark.parametrize("beams", [True, False])
def test_transition_log_probs_match_transformers(beams: bool) -> None:
    """The returned beams' rows normalised alone give transformers' numbers, ended steps included."""
    model, _ = build_blip2("tiny")
    vocab = model.config.text_config.vocab_size
    generator = torch.Generator().manual_seed(3)
    rows = 6 if beams else 2  # 2 requests, 3 beams each
    scores = tuple(torch.randn(rows, vocab, generator=generator) * 4 for _ in range(4))
    sequences = torch.randint(0, vocab, (2, 6), generator=generator)
    # Request 0 came from beams 2, 0, 1 then ended a step early; request 1 from beams 4, 5, 3, 3.
    beam_indices = torch.tensor([[2, 0, 1, -1], [4, 5, 3, 3]]) if beams else None

    ours = transition_log_probs(sequences, scores, beam_indices)
    theirs = model.language_model.compute_transition_scores(
        sequences, scores, beam_indices, normalize_logits=True
    )

    assert ours.shape == theirs.shape == (2, 4)
    assert torch.allclose(ours, theirs, atol=1e-5)
    if beams:
        assert ours[0, 3] == 0


def test_sampling_keeps_one_sequence_per_request_whatever_the_beams() -> None:
    assert beam_width(GenerationOptions(num_beams=4)) == 4
    assert beam_width(GenerationOptions(num_beams=4, use_nucleus_sampling=True)) == 1


@pytest.mark.parametrize(("configured", "expected"), [(None, set()), (2, {2}), ([2, 7], {2, 7})])
def test_eos_ids_accepts_what_generation_configs_hold(configured: object, expected: set[int]) -> None:
    assert eos_ids(SimpleNamespace(eos_token_id=configured)) == expected
