"""What the engine remembers of each photo, on the tiny real model: by key, least recently used
first, within its budgets, and forgotten on request; answers the same as an engine that
remembers nothing."""

from __future__ import annotations

from typing import Any

import pytest

from inference.blip2 import Blip2Engine
from inference.types import GenerationOptions, GenerationRequest
from tests.inference.tiny_engines import GREEDY, Photo, engine, request


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
