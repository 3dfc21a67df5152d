"""The engine's per-photo memories on a tiny real model: same answers, less work.

Every comparison is token for token against an engine that remembers nothing. The `tiny` model
(conftest) is made to depend on its photo, and `test_photos_decide_the_answer` checks that it
does, so these tests fail if the cache serves one photo's features or prefix for another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from inference.blip2 import Blip2Engine
from inference.generation import read_generation
from inference.model import load_engine
from inference.prompts import question_prompt
from inference.types import GenerationOptions, GenerationResult
from tests.inference.tiny_engines import BEAMS, GREEDY, Photo, engine, request

QUESTIONS = ["what is on the table?", "what color is it?", "how many people are there?"]


@dataclass(frozen=True)
class HistoryEntry:
    question: str
    answer: str


class TokenRecorder:
    """Keeps the arguments of each `generate` call and each request's new token ids, in answer order.

    The ids come from the engine's answers (`Blip2Engine.results`), whichever way it decoded:
    plain `generate`, or the joint decode, for which `generate` only prepares the batch.
    """

    def __init__(self, language_model: Any) -> None:
        self.real = language_model.generate
        self.tokens: list[list[int]] = []
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.real(**kwargs)

    def results(self, real: Any) -> Any:
        def recording(engine: Blip2Engine, plan: Any, output: Any) -> list[GenerationResult]:
            answered = real(engine, plan, output)
            self.tokens += [list(result.token_ids) for result in answered]
            return answered

        return recording


@pytest.fixture
def recorder(tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> TokenRecorder:
    model, _ = tiny
    recording = TokenRecorder(model.language_model)
    monkeypatch.setattr(model.language_model, "generate", recording)
    monkeypatch.setattr(Blip2Engine, "results", recording.results(Blip2Engine.results))
    return recording


def converse(
    served: Blip2Engine, photos: list[Image.Image], options: GenerationOptions, *, batched: bool
) -> list[list[GenerationResult]]:
    """A caption, then each question with the earlier ones as history, for every photo at once."""
    histories: list[list[HistoryEntry]] = [[] for _ in photos]
    turns = []
    for turn in range(len(QUESTIONS) + 1):
        prompts = [
            ""
            if turn == 0
            else question_prompt(
                QUESTIONS[turn - 1], history, count_tokens=served.count_tokens, budget_tokens=80
            )
            for history in histories
        ]
        requests = [request(photo, prompt, options) for photo, prompt in zip(photos, prompts, strict=True)]
        results = (
            served.generate_batch(requests) if batched else [served.generate_batch([r])[0] for r in requests]
        )
        for history, result in zip(histories, results, strict=True):
            if turn:
                history.append(HistoryEntry(QUESTIONS[turn - 1], result.text))
        turns.append(results)
    return turns


@pytest.mark.parametrize("options", [GREEDY, BEAMS], ids=["greedy", "beams"])
def test_a_conversation_matches_the_uncached_engine_token_for_token(
    tiny: tuple[Any, Any], recorder: TokenRecorder, make_photo: Photo, options: GenerationOptions
) -> None:
    photos = [make_photo(n) for n in range(3)]

    cached = converse(engine(tiny), photos, options, batched=True)
    cached_tokens, recorder.tokens = recorder.tokens, []
    plain = converse(engine(tiny, cache_mb=0), photos, options, batched=False)

    assert cached_tokens == recorder.tokens
    assert [[r.text for r in turn] for turn in cached] == [[r.text for r in turn] for turn in plain]
    for cached_turn, plain_turn in zip(cached, plain, strict=True):
        assert [r.mean_logprob for r in cached_turn] == pytest.approx(
            [r.mean_logprob for r in plain_turn], abs=1e-4
        )


def test_a_batch_mixing_follow_ups_and_new_photos_matches_one_by_one(
    tiny: tuple[Any, Any], recorder: TokenRecorder, make_photo: Photo
) -> None:
    served = engine(tiny)
    known = [make_photo(n) for n in range(2)]
    served.generate_batch([request(photo, "", GREEDY) for photo in known])
    follow_up = "Question: what is it? Answer: a dog. Question: is it raining today? Answer:"
    mixed = [
        request(known[0], follow_up, GREEDY),
        request(make_photo(7), "", GREEDY),
        request(known[1], "Question: why? Answer:", GREEDY),
        request(make_photo(8), follow_up, GREEDY),
    ]
    recorder.tokens = []

    served.generate_batch(mixed)
    batched, recorder.tokens = recorder.tokens, []
    plain = engine(tiny, cache_mb=0)
    for single in mixed:
        plain.generate_batch([single])

    assert batched == recorder.tokens
    assert recorder.calls[1]["cache"].get_seq_length() > 0, "the mixed batch continued from prefixes"


def test_batched_matches_sequential_with_mixed_prompt_lengths(
    tiny: tuple[Any, Any], recorder: TokenRecorder, make_photo: Photo
) -> None:
    plain = engine(tiny, cache_mb=0)
    prompts = [
        "",
        "Question: what is on the table? Answer:",
        "Question: a dog. " * 6 + "Question: why? Answer:",
    ]
    requests = [request(make_photo(n), prompt, GREEDY) for n, prompt in enumerate(prompts)]

    plain.generate_batch(requests)
    batched, recorder.tokens = recorder.tokens, []
    for single in requests:
        plain.generate_batch([single])

    assert batched == recorder.tokens


def test_a_follow_up_reads_only_its_new_tokens_and_skips_the_vision_tower(
    tiny: tuple[Any, Any], recorder: TokenRecorder, vision_calls: list[int], make_photo: Photo
) -> None:
    served = engine(tiny)
    photo = make_photo(1)
    first = "Question: what is on the table? Answer:"
    [answer] = served.generate_batch([request(photo, first, GREEDY)])
    assert len(vision_calls) == 1

    follow_up = f"{first} {answer.text}. Question: and the chair? Answer:"
    served.generate_batch([request(photo, follow_up, GREEDY)])

    assert len(vision_calls) == 1, "the follow-up must not run the vision tower"
    kwargs = recorder.calls[-1]
    reused = kwargs["cache"].get_seq_length()
    read_now = kwargs["inputs_embeds"].shape[1] - reused
    assert reused >= served.count_tokens(first) + tiny[0].config.num_query_tokens
    assert read_now < served.count_tokens(follow_up) - served.count_tokens(first)


def test_features_alone_are_reused_by_an_encoder_decoder(tiny_blip2_t5_dir: Path, make_photo: Photo) -> None:
    served = load_engine(str(tiny_blip2_t5_dir), device="cpu", embedding_cache_mb=1)
    plain = load_engine(str(tiny_blip2_t5_dir), device="cpu", embedding_cache_mb=0)
    assert isinstance(served, Blip2Engine) and isinstance(plain, Blip2Engine)
    calls: list[int] = []
    served.model.vision_model.register_forward_hook(lambda module, args, out: calls.append(1))
    photo = make_photo(4)
    requests = [request(photo, p, GREEDY) for p in ("", "Question: what is it? Answer:")]

    cached = [served.generate_batch([r])[0] for r in requests]

    assert len(calls) == 1
    assert len(served.prefixes) == 0, "an encoder re-reads its whole input: no prefix to keep"
    assert [r.text for r in cached] == [plain.generate_batch([r])[0].text for r in requests]


def test_photos_decide_the_answer(tiny: tuple[Any, Any], recorder: TokenRecorder, make_photo: Photo) -> None:
    plain = engine(tiny, cache_mb=0)
    photos = [
        make_photo(1, color=(250, 20, 20)),
        make_photo(2, color=(20, 20, 250)),
        make_photo(3),
        make_photo(4),
    ]

    plain.generate_batch(
        [request(photo, "Question: what is on the table? Answer:", GREEDY) for photo in photos]
    )

    assert len({tuple(tokens) for tokens in recorder.tokens}) >= 3, "the tests above rely on photos mattering"


def test_a_static_cache_keeps_no_prefixes_and_gives_the_same_answers(
    tiny: tuple[Any, Any], make_photo: Photo
) -> None:
    model, processor = tiny
    static = Blip2Engine(model, processor, "cpu", "tiny", embedding_cache_mb=8, static_cache=True)
    plain = engine(tiny, cache_mb=0)
    requests = [request(make_photo(n), p, GREEDY) for n, p in enumerate(["", "Question: why? Answer:"])]

    answers = static.generate_batch(requests)

    assert [a.text for a in answers] == [plain.generate_batch([r])[0].text for r in requests]
    assert (len(static.features), len(static.prefixes)) == (2, 0)


def test_sampled_follow_ups_reuse_prefixes_too(tiny: tuple[Any, Any], make_photo: Photo) -> None:
    served = engine(tiny)
    sampling = GenerationOptions(use_nucleus_sampling=True, max_new_tokens=4, temperature=0.7)
    photo = make_photo(6)

    first = served.generate_batch([request(photo, "Question: what is it? Answer:", sampling)])[0]
    follow_up = f"Question: what is it? Answer: {first.text}. Question: why? Answer:"
    second = served.generate_batch([request(photo, follow_up, sampling)])[0]

    assert second.new_tokens >= 1
    assert served.prefixes.stats.hits == 1


@pytest.mark.parametrize("options", [GREEDY, BEAMS], ids=["greedy", "beams"])
def test_the_engine_matches_blip2s_own_generate(
    tiny: tuple[Any, Any], make_photo: Photo, options: GenerationOptions
) -> None:
    model, processor = tiny
    prompts = [
        "",
        "Question: what is on the table? Answer:",
        "Question: a dog. " * 4 + "Question: why? Answer:",
    ]
    requests = [request(make_photo(n), prompt, options) for n, prompt in enumerate(prompts)]
    eos = {model.config.text_config.eos_token_id}
    reference = []
    for single in requests:
        inputs = processor(images=[single.image], text=[single.prompt], return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(
                **inputs, **options.generate_kwargs(), output_scores=True, return_dict_in_generate=True
            )
        reference.append(read_generation(output, eos)[0].token_ids)
    recording = TokenRecorder(model.language_model)
    served = engine(tiny)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Blip2Engine, "results", recording.results(Blip2Engine.results))
        served.generate_batch(requests)
        served.generate_batch(requests)  # again, from the prefixes just kept

    assert recording.tokens == reference + reference


def test_beam_search_reads_each_prompt_once(tiny: tuple[Any, Any], make_photo: Photo) -> None:
    model, _ = tiny
    batch_sizes: list[int] = []
    handle = model.language_model.model.decoder.register_forward_hook(
        lambda module, args, kwargs, out: (
            batch_sizes.append(kwargs["inputs_embeds"].shape[0])
            if kwargs.get("inputs_embeds") is not None
            else batch_sizes.append(kwargs["input_ids"].shape[0])
        ),
        with_kwargs=True,
    )
    try:
        engine(tiny).generate_batch(
            [request(make_photo(n), "Question: why? Answer:", BEAMS) for n in range(2)]
        )
    finally:
        handle.remove()

    # Once per request for all but the last token, then per beam.
    assert batch_sizes[0] == 2
    assert set(batch_sizes[1:]) == {2 * BEAMS.num_beams}
