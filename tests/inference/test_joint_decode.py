"""Batches that join a running beam search: the same tokens as each batch alone, answered as they finish."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import DynamicCache

from inference.beam_cohort import prepare, reorder_in_place
from inference.joint_decode import JointDecoder
from inference.joint_serving import decode_jointly
from inference.types import GenerationOptions, GenerationRequest, GenerationResult
from tests.inference.tiny_engines import Photo, engine, request

CAPTION = GenerationOptions(num_beams=3, max_new_tokens=8, min_new_tokens=8)
ANSWER = GenerationOptions(num_beams=3, max_new_tokens=3, min_new_tokens=1)
FREE = GenerationOptions(num_beams=2, max_new_tokens=6, min_new_tokens=1, length_penalty=0.5)


def batches(make_photo: Photo) -> list[list[GenerationRequest]]:
    """A caption batch, a description's questions, a lone follow-up with a long history, another caption."""
    return [
        [request(make_photo(1), "", CAPTION), request(make_photo(2), "", CAPTION)],
        [request(make_photo(1), f"Question: {q}? Answer:", ANSWER) for q in ("who", "where", "what colour")],
        [request(make_photo(3), "Question: a dog. " * 5 + "Question: why? Answer:", FREE)],
        [request(make_photo(4), "a photo of", CAPTION)],
    ]


def run_joined(served: Any, arriving: list[list[GenerationRequest]], at_steps: list[int]) -> dict[int, Any]:
    """Decode the first batch, adding batch i at step `at_steps[i-1]`; each batch's answers and when."""
    answered: dict[int, tuple[list[GenerationResult], int]] = {}
    ids = {id(batch[0]): n for n, batch in enumerate(arriving)}
    step = 0

    def more() -> list[list[GenerationRequest]]:
        nonlocal step
        step += 1
        return [arriving[n + 1] for n, at in enumerate(at_steps) if at == step]

    def done(requests: list[GenerationRequest], results: list[GenerationResult]) -> None:
        answered[ids[id(requests[0])]] = (results, step)

    decode_jointly(served, [arriving[0]], more=more, done=done)
    return answered


@pytest.mark.parametrize("at_steps", [[0, 0, 0], [1, 3, 4], [2, 2, 7]], ids=["together", "staggered", "late"])
def test_joined_batches_answer_as_each_alone(
    tiny: tuple[Any, Any], make_photo: Photo, at_steps: list[int]
) -> None:
    arriving = batches(make_photo)
    alone = engine(tiny, cache_mb=0)
    expected = [[r.token_ids for r in alone.generate_batch(batch)] for batch in arriving]

    # Steps count from the first `more` call, made after the first step.
    answered = run_joined(engine(tiny, cache_mb=0), arriving, [at or 1 for at in at_steps])

    assert sorted(answered) == [0, 1, 2, 3]
    assert [[r.token_ids for r in answered[n][0]] for n in range(4)] == expected
    assert all(
        r.text == a.text
        for n in range(4)
        for r, a in zip(answered[n][0], alone.generate_batch(arriving[n]), strict=True)
    )


def test_a_short_answer_leaves_before_the_long_caption_it_joined(
    tiny: tuple[Any, Any], make_photo: Photo
) -> None:
    arriving = batches(make_photo)[:2]
    answered = run_joined(engine(tiny, cache_mb=0), arriving, [1])
    caption_step, answer_step = answered[0][1], answered[1][1]
    assert answer_step < caption_step  # 3 tokens joined at step 1, 8 started at step 0


def test_the_prefixes_kept_from_a_joint_decode_serve_follow_ups_the_same(
    tiny: tuple[Any, Any], make_photo: Photo
) -> None:
    """Each batch's prompt prefix is cut from the shared cache; a follow-up reusing it answers the same."""
    arriving = batches(make_photo)
    served = engine(tiny)
    run_joined(served, arriving, [1, 2, 3])
    follow_up = [request(make_photo(1), "Question: who? Answer: a man. Question: why? Answer:", ANSWER)]
    assert len(served.prefixes) >= 3
    assert [r.token_ids for r in served.generate_batch(follow_up)] == [
        r.token_ids for r in engine(tiny, cache_mb=0).generate_batch(follow_up)
    ]


def test_reordering_in_place_matches_reorder_cache() -> None:
    """Only moved rows are copied, yet every row ends as `DynamicCache.reorder_cache` leaves it."""
    generator = torch.Generator().manual_seed(5)
    layers = [(torch.randn(6, 2, 4, 3, generator=generator), torch.randn(6, 2, 4, 3, generator=generator))]
    index = torch.tensor([0, 0, 1, 3, 5, 2])  # kept, copied from a moved row, swapped, kept
    theirs = DynamicCache(ddp_cache_data=[(k.clone(), v.clone()) for k, v in layers])
    ours = DynamicCache(ddp_cache_data=[(k.clone(), v.clone()) for k, v in layers])

    theirs.reorder_cache(index)
    reorder_in_place(ours, index)

    for mine, reference in zip(ours.layers, theirs.layers, strict=True):
        assert torch.equal(mine.keys, reference.keys)
        assert torch.equal(mine.values, reference.values)


def test_a_cohort_without_its_prompt_read_starts_on_its_own_and_decodes_as_generate(
    tiny: tuple[Any, Any],
) -> None:
    """Plain ids, no cache: the cohort reads its whole prompt itself (`start`), as `generate` would."""
    language_model = tiny[0].language_model
    ids = torch.tensor([[2, 40, 41, 42], [1, 2, 50, 51]])
    kwargs = {
        "input_ids": ids,
        "attention_mask": torch.tensor([[1, 1, 1, 1], [0, 1, 1, 1]]),
        "num_beams": 3,
        "max_new_tokens": 5,
        "min_new_tokens": 5,
        "return_dict_in_generate": True,
        "output_scores": True,
        "pad_token_id": 1,
    }
    finished: list[Any] = []
    with torch.inference_mode():
        expected = language_model.generate(**kwargs).sequences
        decoder = JointDecoder(language_model, lambda cohort, out: finished.append(out))
        decoder.join(prepare(language_model, **kwargs))
        while not decoder.idle:
            decoder.step()
    assert torch.equal(finished[0].sequences, expected)
