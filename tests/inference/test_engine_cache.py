"""The engine's per-photo memories on a tiny real model: same answers, less work.

Every comparison is token for token against an engine that remembers nothing. The `tiny` model
(conftest) is made to depend on its photo, and `test_photos_decide_the_answer` checks that it
does, so these tests fail if the cache serves one photo's features or prefix for another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from inference.blip2 import Blip2Engine
from inference.generation import read_generation
from inference.kv_prefix import DEFAULT_KV_CACHE_TOKENS
from inference.model import load_engine
from inference.prompts import question_prompt
from inference.types import GenerationOptions, GenerationRequest, GenerationResult

Photo = Callable[..., Image.Image]
GREEDY = GenerationOptions(num_beams=1, max_new_tokens=6, min_new_tokens=1)  # repetition penalty 1.5
BEAMS = GenerationOptions(num_beams=3, max_new_tokens=6, min_new_tokens=2)
QUESTIONS = ["what is on the table?", "what color is it?", "how many people are there?"]


@dataclass(frozen=True)
class HistoryEntry:
    question: str
    answer: str


def engine(tiny: tuple[Any, Any], cache_mb: float = 64, kv_tokens: int | None = None) -> Blip2Engine:
    """An engine on the tiny model; `cache_mb=0` alone makes one that remembers nothing at all."""
    model, processor = tiny
    if kv_tokens is None:
        kv_tokens = DEFAULT_KV_CACHE_TOKENS if cache_mb else 0
    return Blip2Engine(
        model, processor, "cpu", "tiny", embedding_cache_mb=cache_mb, kv_cache_tokens=kv_tokens
    )


def request(photo: Image.Image, prompt: str, options: GenerationOptions, key: str | None = None):
    key = key or hashlib.sha256(photo.tobytes()).hexdigest()
    return GenerationRequest(image=photo, image_key=key, prompt=prompt, options=options)


class TokenRecorder:
    """Wraps the language model's `generate` and keeps each request's new token ids, in call order."""

    def __init__(self, language_model: Any, eos: set[int]) -> None:
        self.real = language_model.generate
        self.language_model = language_model
        self.eos = eos
        self.tokens: list[list[int]] = []
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        output = self.real(**kwargs)
        self.tokens += [g.token_ids for g in read_generation(self.language_model, output, self.eos)]
        return output


@pytest.fixture
def recorder(tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> TokenRecorder:
    model, _ = tiny
    recording = TokenRecorder(model.language_model, {model.config.text_config.eos_token_id})
    monkeypatch.setattr(model.language_model, "generate", recording)
    return recording


@pytest.fixture
def vision_calls(tiny: tuple[Any, Any]) -> Iterator[list[int]]:
    """Counts forward passes of the vision tower (one per batch of photos that needed it)."""
    calls: list[int] = []
    handle = tiny[0].vision_model.register_forward_hook(lambda module, args, out: calls.append(1))
    yield calls
    handle.remove()


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


def test_the_cache_answers_by_key(tiny: tuple[Any, Any], make_photo: Photo) -> None:
    red, blue = make_photo(1, color=(250, 20, 20)), make_photo(2, color=(20, 20, 250))
    plain = engine(tiny, cache_mb=0)
    prompt = "Question: what is on the table? Answer:"
    exact = GenerationOptions(num_beams=1, max_new_tokens=6, min_new_tokens=6)
    red_answer = plain.generate_batch([request(red, prompt, exact)])[0].text
    blue_answer = plain.generate_batch([request(blue, prompt, exact)])[0].text
    assert red_answer != blue_answer

    served = engine(tiny)
    served.generate_batch([request(red, "", exact, key="photo")])
    # The key promises the same pixels, so the cache answers for the red photo.
    [from_cache] = served.generate_batch([request(blue, prompt, exact, key="photo")])

    assert from_cache.text == red_answer


def test_the_least_recently_used_photo_is_forgotten_first(
    tiny: tuple[Any, Any], vision_calls: list[int], make_photo: Photo
) -> None:
    model, _ = tiny
    features_bytes = model.config.num_query_tokens * model.config.text_config.hidden_size * 4
    # Room for one photo's features, and for fewer key/value tokens than one prefix holds.
    served = engine(tiny, cache_mb=1.5 * features_bytes / 2**20, kv_tokens=model.config.num_query_tokens)
    first, second = make_photo(1), make_photo(2)

    served.generate_batch([request(first, "", GREEDY)])
    served.generate_batch([request(second, "", GREEDY)])
    served.generate_batch([request(second, "", GREEDY)])
    served.generate_batch([request(first, "", GREEDY)])

    assert len(vision_calls) == 3, "the second photo is remembered, the first was evicted"
    assert served.features.nbytes <= served.features.max_bytes
    assert len(served.prefixes) == 0, "a prefix larger than the whole budget is not kept"


def test_a_zero_budget_remembers_nothing(
    tiny: tuple[Any, Any], vision_calls: list[int], make_photo: Photo
) -> None:
    served = engine(tiny, cache_mb=0)
    photo = make_photo(1)

    for prompt in ("", "Question: what is it? Answer:", "Question: what is it? Answer:"):
        served.generate_batch([request(photo, prompt, GREEDY)])

    assert len(vision_calls) == 3
    assert (len(served.features), len(served.prefixes)) == (0, 0)


def test_photos_prepared_ahead_are_not_preprocessed_again(
    tiny: tuple[Any, Any], make_photo: Photo, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, plain = engine(tiny), engine(tiny, cache_mb=0)
    requests = [request(make_photo(n), "Question: what is it? Answer:", GREEDY) for n in range(3)]
    served.prepare(requests[0])
    served.prepare(requests[2])
    preprocessed: list[int] = []
    real = served.processor.image_processor.__class__.__call__

    def counting(self: Any, images: Any, **kwargs: Any) -> Any:
        preprocessed.append(len(images))
        return real(self, images, **kwargs)

    monkeypatch.setattr(served.processor.image_processor.__class__, "__call__", counting)

    answers = served.generate_batch(requests)

    assert preprocessed == [1], "only the photo nobody prepared"
    assert [a.text for a in answers] == [plain.generate_batch([r])[0].text for r in requests]


def test_the_same_photo_twice_in_a_batch_is_read_once(
    tiny: tuple[Any, Any], vision_calls: list[int], make_photo: Photo
) -> None:
    served, plain = engine(tiny), engine(tiny, cache_mb=0)
    photo = make_photo(5)
    requests = [request(photo, p, GREEDY) for p in ("", "Question: what is it? Answer:")]

    answers = served.generate_batch(requests)
    again = served.generate_batch(requests)

    assert len(vision_calls) == 1
    expected = [plain.generate_batch([r])[0].text for r in requests]
    assert [a.text for a in answers] == [a.text for a in again] == expected


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
        reference.append(read_generation(model.language_model, output, eos)[0].token_ids)
    recording = TokenRecorder(model.language_model, eos)
    served = engine(tiny)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model.language_model, "generate", recording)
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


def test_forget_drops_a_photos_features_and_prefix(tiny, make_photo):
    model, processor = tiny
    engine = Blip2Engine(model, processor, "cpu", "tiny", embedding_cache_mb=16)
    photo = make_photo(seed=11)
    request = GenerationRequest(
        image=photo, image_key="forget-me", prompt="Question: what? Answer:",
        options=GenerationOptions(num_beams=1, max_new_tokens=3, min_new_tokens=3),
    )  # fmt: skip
    engine.generate_batch([request])
    assert "forget-me" in engine.features and "forget-me" in engine.prefixes
    engine.forget(["forget-me", "never-seen"])
    assert "forget-me" not in engine.features and "forget-me" not in engine.prefixes
