"""A description reads its photo once, the key/value store has its own budget, results carry their ids.

The work is counted on the tiny real model (conftest) by a hook on its decoder: how many image-query
positions every forward pass reads, beams included. The answers are compared token for token with
an engine that remembers nothing and with BLIP-2's own `generate`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from inference.blip2 import Blip2Engine
from inference.generation import read_generation
from inference.kv_prefix import Prefix, kv_bytes_per_token, shared_starts
from inference.model import load_engine
from inference.prompts import caption_prompt, clean_answer, detail_prompts
from inference.streams import decode_result, encode_result
from inference.types import (
    ANSWER_OPTIONS,
    CAPTION_OPTIONS,
    GenerationOptions,
    GenerationRequest,
    GenerationResult,
)

Photo = Callable[..., Image.Image]
GREEDY = GenerationOptions(num_beams=1, max_new_tokens=4, min_new_tokens=1)
BEAMS = GenerationOptions(num_beams=3, max_new_tokens=4, min_new_tokens=2)


def request(photo: Image.Image, prompt: str, options: GenerationOptions) -> GenerationRequest:
    return GenerationRequest(photo, hashlib.sha256(photo.tobytes()).hexdigest(), prompt, options)


def description(photo: Image.Image) -> tuple[list[GenerationRequest], list[GenerationRequest]]:
    """What the bot sends for a photo at the default detail: the caption, then the detail questions."""
    caption = [request(photo, caption_prompt(), CAPTION_OPTIONS)]
    details = [request(photo, prompt, ANSWER_OPTIONS) for prompt in detail_prompts().values()]
    return caption, details


def engine(tiny: tuple[Any, Any], *, cache_mb: float = 16, kv_tokens: int = 4096) -> Blip2Engine:
    model, processor = tiny
    return Blip2Engine(
        model, processor, "cpu", "tiny", embedding_cache_mb=cache_mb, kv_cache_tokens=kv_tokens
    )


def plain(tiny: tuple[Any, Any]) -> Blip2Engine:
    """An engine that remembers nothing: every row reads everything itself."""
    return engine(tiny, cache_mb=0, kv_tokens=0)


class QueryReads:
    """Image-query positions the decoder read, summed over every forward pass and every sequence in it."""

    def __init__(self, queries: int) -> None:
        self.queries = queries
        self.count = 0

    def __call__(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        inputs = kwargs.get("inputs_embeds")
        batch, width = (inputs if inputs is not None else kwargs["input_ids"]).shape[:2]
        # Positions as the decoder makes them; `generate` drops a mask with no padding in it.
        mask = kwargs.get("attention_mask")
        if mask is None:
            cache = kwargs.get("cache")
            mask = torch.ones(batch, (cache.get_seq_length() if cache is not None else 0) + width)
        assert mask.dim() == 2, "positions are read off a 2D attention mask"
        real = mask[:, -width:] == 1
        positions = kwargs.get("position_ids")
        if positions is None:
            positions = (mask.cumsum(-1) - 1)[:, -width:]
        self.count += int(((positions < self.queries) & real).sum())


@pytest.fixture
def query_reads(tiny: tuple[Any, Any]) -> Iterator[QueryReads]:
    model, _ = tiny
    reads = QueryReads(model.config.num_query_tokens)
    handle = model.language_model.model.decoder.register_forward_pre_hook(reads, with_kwargs=True)
    yield reads
    handle.remove()


def blip2_generate(tiny: tuple[Any, Any], single: GenerationRequest) -> tuple[int, ...]:
    """The new tokens `Blip2ForConditionalGeneration.generate` gives for one request alone."""
    model, processor = tiny
    inputs = processor(images=[single.image], text=[single.prompt], return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(
            **inputs, **single.options.generate_kwargs(), output_scores=True, return_dict_in_generate=True
        )
    eos = {model.config.text_config.eos_token_id}
    return tuple(read_generation(output, eos)[0].token_ids)


def test_a_start_is_the_run_every_row_of_a_photo_shares_leaving_each_a_token() -> None:
    keys = ["a", "a", "a", "b", "c", "c"]
    rows = [[7, 7, 1, 2, 3], [7, 7, 1, 2, 4, 5], [7, 7, 1, 9], [7, 7, 1], [7, 7], [7, 7, 8]]
    stored = Prefix((7, 7, 8), torch.zeros(1, 2, 1, 3, 1))

    # A lone row's start is all of it but its last token ("b").
    assert shared_starts(keys, rows, [None] * 6) == {"a": (7, 7, 1), "b": (7, 7), "c": (7,)}
    assert shared_starts(keys, rows, [None] * 4 + [stored] * 2) == {"a": (7, 7, 1), "b": (7, 7)}, (
        "c reuses its prefix"
    )
    assert shared_starts(["a", "a"], [[7, 7, 1], [7, 7, 1]], [None, None]) == {"a": (7, 7)}
    assert shared_starts(["a", "a"], [[7, 1], [8, 1]], [None, None]) == {}


@pytest.mark.parametrize("details_first", [False, True], ids=["caption-first", "details-first"])
def test_a_new_photos_description_reads_its_image_queries_once(
    tiny: tuple[Any, Any], query_reads: QueryReads, make_photo: Photo, details_first: bool
) -> None:
    served = engine(tiny)
    caption, details = description(make_photo(21))
    batches = [details, caption] if details_first else [caption, details]

    answers = [served.generate_batch(batch) for batch in batches]

    assert query_reads.count == query_reads.queries, "the image queries are read once, not once a row"
    assert served.features.stats.misses == 1
    query_reads.count = 0
    expected = [[plain(tiny).generate_batch([r])[0].token_ids for r in batch] for batch in batches]
    assert query_reads.count == 5 * query_reads.queries, "the counter sees every row read them alone"
    assert [[a.token_ids for a in batch] for batch in answers] == expected
    assert [[blip2_generate(tiny, r) for r in batch] for batch in batches] == expected


@pytest.mark.parametrize("options", [GREEDY, BEAMS], ids=["greedy", "beams"])
def test_a_batch_mixing_shared_starts_lone_rows_and_follow_ups_matches_one_by_one(
    tiny: tuple[Any, Any], query_reads: QueryReads, make_photo: Photo, options: GenerationOptions
) -> None:
    served = engine(tiny)
    known = make_photo(30)
    served.generate_batch([request(known, "", options)])
    short, longer = "Question: what is it? Answer:", "Question: what is on the table? Answer:"
    mixed = [
        request(make_photo(31), short, options),
        request(known, longer, options),
        request(make_photo(32), longer, options),
        request(make_photo(31), longer, options),
        request(make_photo(33), "", options),
        request(make_photo(32), "", options),
        request(make_photo(31), short, options),
    ]
    query_reads.count = 0

    answers = served.generate_batch(mixed)

    assert query_reads.count == 3 * query_reads.queries, "once for each new photo, none for the known one"
    reference = plain(tiny)
    assert [a.token_ids for a in answers] == [reference.generate_batch([r])[0].token_ids for r in mixed]
    again = served.generate_batch(mixed)  # every photo known now: all from prefixes
    assert [a.token_ids for a in again] == [a.token_ids for a in answers]


def test_with_no_key_value_budget_every_row_reads_its_photo(
    tiny: tuple[Any, Any], query_reads: QueryReads, make_photo: Photo
) -> None:
    served = engine(tiny, kv_tokens=0)
    _, details = description(make_photo(22))

    served.generate_batch(details)

    assert not served.prefixes.enabled and len(served.prefixes) == 0
    assert query_reads.count == len(details) * query_reads.queries
    assert served.features.stats.misses == 1, "the features are still read once and kept"


def test_the_key_value_budget_is_in_tokens_and_apart_from_the_features(
    tiny: tuple[Any, Any], make_photo: Photo
) -> None:
    model, _ = tiny
    text = model.config.text_config
    per_token = text.num_hidden_layers * 2 * text.hidden_size * 4  # heads x head size = hidden; fp32
    queries = model.config.num_query_tokens
    features_bytes = queries * text.hidden_size * 4
    # Room for two photos' features but one photo's caption prefix (the queries and the BOS).
    served = engine(tiny, cache_mb=2.5 * features_bytes / 2**20, kv_tokens=queries + 1 + queries // 2)
    first, second = make_photo(41), make_photo(42)

    for photo in (first, second, first):
        served.generate_batch([request(photo, "", BEAMS)])

    assert served.kv_bytes_per_token == per_token
    assert served.prefixes.max_bytes == (queries + 1 + queries // 2) * per_token
    assert served.prefixes.stats.evictions == 2, "each photo's prefix pushed the other's out"
    assert served.features.stats.evictions == 0 and len(served.features) == 2
    assert served.features.stats.misses == 2 and served.prefixes.stats.misses == 3


def test_bytes_per_token_follow_the_model_and_its_dtype(tiny: tuple[Any, Any]) -> None:
    text = tiny[0].config.text_config
    fp32 = kv_bytes_per_token(text, torch.float32)

    assert fp32 == text.num_hidden_layers * 2 * text.hidden_size * 4
    assert kv_bytes_per_token(text, torch.float16) == fp32 // 2
    opt_2_7b = type(text)(num_hidden_layers=32, hidden_size=2560, num_attention_heads=32)
    assert kv_bytes_per_token(opt_2_7b, torch.float16) == 320 * 1024
    with pytest.raises(ValueError, match="kv_cache_tokens"):
        engine(tiny, kv_tokens=-1)


def test_results_carry_their_token_ids(tiny: tuple[Any, Any], tiny_blip_dir: Path, make_photo: Photo) -> None:
    served = engine(tiny)
    [answer] = served.generate_batch([request(make_photo(50), "Question: why? Answer:", GREEDY)])
    captioner = load_engine(str(tiny_blip_dir), device="cpu")
    [caption, declined] = captioner.generate_batch(
        [request(make_photo(50), "", GREEDY), request(make_photo(50), "Question: why? Answer:", GREEDY)]
    )

    for result in (answer, caption):
        assert isinstance(result.token_ids, tuple) and len(result.token_ids) == result.new_tokens
    assert answer.new_tokens >= 1 and declined.token_ids == ()
    decoded = served.processor.tokenizer.decode(answer.token_ids, skip_special_tokens=True)
    assert answer.text == clean_answer(decoded, "Question: why? Answer:")


def test_token_ids_survive_the_trip_through_redis_as_a_tuple() -> None:
    result = GenerationResult("a dog", 2, -0.5, 12.0, token_ids=(10, 11))

    assert decode_result(encode_result(result, worker="w1")) == result
    older = json.dumps({"text": "a dog", "new_tokens": 2, "worker": "w1"})
    assert decode_result(older) == GenerationResult("a dog", 2)
