"""The engines on tiny random-weight models: real code paths, gibberish text (never assert words)."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from transformers import OPTConfig

from inference.blip import CANNOT_ANSWER, BlipCaptionEngine
from inference.blip2 import Blip2Engine
from inference.generation import read_generation
from inference.model import ModelLoadError, load_engine
from inference.prompts import NO_ANSWER, caption_prompt, question_prompt
from inference.types import ANSWER_OPTIONS, CAPTION_OPTIONS, GenerationOptions, GenerationRequest

Photo = Callable[..., Image.Image]
GREEDY = GenerationOptions(num_beams=1, max_new_tokens=6, min_new_tokens=1, repetition_penalty=1.0)
PROMPTS = [
    "",
    "Question: what is on the table? Answer:",
    "Question: a dog. Question: how many people are in the photo and what are they doing? Answer:",
]


def request(
    photo: Image.Image, prompt: str = "", options: GenerationOptions = CAPTION_OPTIONS, key: str | None = None
):
    # The engine caches by key, and the shared engine outlives each test: keys must follow the pixels.
    key = key or hashlib.sha256(photo.tobytes()).hexdigest()
    return GenerationRequest(image=photo, image_key=key, prompt=prompt, options=options)


class RecordingGenerate:
    """Stands in for `model.generate`: calls the real one and keeps its kwargs and output."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.calls: list[dict[str, Any]] = []
        self.outputs: list[Any] = []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        output = self.real(**kwargs)
        self.outputs.append(output)
        return output


@pytest.fixture
def recorder(tiny_engine: Blip2Engine, monkeypatch: pytest.MonkeyPatch) -> RecordingGenerate:
    language_model = tiny_engine.model.language_model
    recording = RecordingGenerate(language_model.generate)
    monkeypatch.setattr(language_model, "generate", recording)
    return recording


def new_token_ids(engine: Blip2Engine, output: Any) -> list[list[int]]:
    generated = read_generation(output, {engine.model.config.text_config.eos_token_id})
    return [g.token_ids for g in generated]


# loading


def test_loads_an_opt_blip2_directory(tiny_engine: Blip2Engine, tiny_blip2_dir: Path) -> None:
    assert tiny_engine.name == str(tiny_blip2_dir)
    assert tiny_engine.can_answer_questions
    assert tiny_engine.model.dtype == torch.float32
    assert not tiny_engine.model.training
    assert tiny_engine.model.config._attn_implementation == "sdpa"


def test_describe_returns_text(tiny_engine: Blip2Engine, make_photo: Photo) -> None:
    [result] = tiny_engine.generate_batch([request(make_photo(1), caption_prompt())])

    assert result.text.strip()
    assert 1 <= result.new_tokens <= CAPTION_OPTIONS.max_new_tokens
    assert result.mean_logprob is not None and math.isfinite(result.mean_logprob) and result.mean_logprob <= 0
    assert result.generation_ms > 0


def test_loads_a_t5_blip2_directory_and_answers(tiny_blip2_t5_dir: Path, make_photo: Photo) -> None:
    engine = load_engine(str(tiny_blip2_t5_dir), device="cpu")

    assert isinstance(engine, Blip2Engine)
    prompt = question_prompt("what is it?", [], count_tokens=engine.count_tokens, budget_tokens=100)
    caption, answer = engine.generate_batch(
        [request(make_photo(1), "", ANSWER_OPTIONS), request(make_photo(2), prompt, ANSWER_OPTIONS)]
    )
    assert caption.text.strip() and answer.text.strip()
    assert 1 <= answer.new_tokens <= ANSWER_OPTIONS.max_new_tokens


def test_loads_a_blip_captioner_that_declines_questions(tiny_blip_dir: Path, make_photo: Photo) -> None:
    engine = load_engine(str(tiny_blip_dir), device="cpu", caption_prefix="a picture of")

    assert isinstance(engine, BlipCaptionEngine)
    assert not engine.can_answer_questions
    caption, declined, unprefixed = engine.generate_batch(
        [
            request(make_photo(1), caption_prompt("a picture of")),
            request(make_photo(2), "Question: what is it? Answer:"),
            request(make_photo(3), ""),
        ]
    )
    assert caption.text.strip() and caption.text != CANNOT_ANSWER
    assert not caption.text.startswith("a picture of")
    assert 1 <= caption.new_tokens <= CAPTION_OPTIONS.max_new_tokens
    assert unprefixed.text != CANNOT_ANSWER
    assert declined.text == CANNOT_ANSWER
    assert declined.new_tokens == 0


# generation


def test_options_reach_generate(
    tiny_engine: Blip2Engine, recorder: RecordingGenerate, make_photo: Photo
) -> None:
    options = GenerationOptions(num_beams=3, max_new_tokens=7, min_new_tokens=2, repetition_penalty=1.3)

    tiny_engine.generate_batch([request(make_photo(1), "", options)])

    [kwargs] = recorder.calls
    assert kwargs["num_beams"] == 3
    assert kwargs["max_new_tokens"] == 7
    assert kwargs["min_new_tokens"] == 2
    assert kwargs["repetition_penalty"] == 1.3
    assert kwargs["length_penalty"] == 1.0
    assert kwargs["do_sample"] is False
    assert kwargs["output_scores"] is True and kwargs["return_dict_in_generate"] is True
    assert kwargs["inputs_embeds"].shape[0] == 1


def test_sampling_options_reach_generate(
    tiny_engine: Blip2Engine, recorder: RecordingGenerate, make_photo: Photo
) -> None:
    options = GenerationOptions(use_nucleus_sampling=True, temperature=0.7, top_p=0.8, max_new_tokens=4)

    [result] = tiny_engine.generate_batch([request(make_photo(1), "", options)])

    [kwargs] = recorder.calls
    assert kwargs["do_sample"] is True and kwargs["num_beams"] == 1
    assert (kwargs["temperature"], kwargs["top_p"]) == (0.7, 0.8)
    assert 1 <= result.new_tokens <= 4


def test_prompt_tokens_are_not_counted_as_new(tiny_engine: Blip2Engine, make_photo: Photo) -> None:
    exact = GenerationOptions(num_beams=2, max_new_tokens=5, min_new_tokens=5)
    short = GenerationOptions(num_beams=1, max_new_tokens=3, min_new_tokens=1)

    exact_results = tiny_engine.generate_batch(
        [request(make_photo(i), p, exact) for i, p in enumerate(PROMPTS)]
    )
    short_results = tiny_engine.generate_batch(
        [request(make_photo(i), p, short) for i, p in enumerate(PROMPTS)]
    )

    assert [r.new_tokens for r in exact_results] == [5, 5, 5]
    assert all(1 <= r.new_tokens <= 3 for r in short_results)


def test_the_processor_puts_one_placeholder_per_query_token(
    tiny_engine: Blip2Engine, make_photo: Photo
) -> None:
    config = tiny_engine.model.config
    inputs = tiny_engine.processor(
        images=[make_photo(1)] * 2, text=PROMPTS[1:], return_tensors="pt", padding=True
    )

    image_tokens = inputs["input_ids"] == config.image_token_index
    assert image_tokens.sum(dim=1).tolist() == [config.num_query_tokens] * 2
    # The placeholders lead every row, even in front of the left padding.
    assert image_tokens[:, : config.num_query_tokens].all()


def test_different_photos_give_different_image_features(tiny_engine: Blip2Engine, make_photo: Photo) -> None:
    photos = [make_photo(1, color=(250, 20, 20)), make_photo(2, color=(20, 20, 250))]
    pixels = tiny_engine.processor(images=photos, return_tensors="pt")["pixel_values"]

    with torch.inference_mode():
        features = tiny_engine.model.get_image_features(pixel_values=pixels).pooler_output

    config = tiny_engine.model.config
    assert features.shape == (2, config.num_query_tokens, config.text_config.hidden_size)
    assert not torch.allclose(features[0], features[1], atol=1e-4)


def test_a_batch_matches_one_by_one_greedy_decoding(
    tiny_engine: Blip2Engine, recorder: RecordingGenerate, make_photo: Photo
) -> None:
    requests = [request(make_photo(i), prompt, GREEDY) for i, prompt in enumerate(PROMPTS)]

    batched = tiny_engine.generate_batch(requests)
    singles = [tiny_engine.generate_batch([r])[0] for r in requests]

    batch_tokens = new_token_ids(tiny_engine, recorder.outputs[0])
    single_tokens = [new_token_ids(tiny_engine, output)[0] for output in recorder.outputs[1:]]
    assert batch_tokens == single_tokens
    assert [r.text for r in batched] == [r.text for r in singles]
    assert [r.mean_logprob for r in batched] == pytest.approx([r.mean_logprob for r in singles], abs=1e-4)


def test_a_batch_must_share_its_options(tiny_engine: Blip2Engine, make_photo: Photo) -> None:
    with pytest.raises(ValueError, match="same GenerationOptions"):
        tiny_engine.generate_batch(
            [request(make_photo(1), "", CAPTION_OPTIONS), request(make_photo(2), "", GREEDY)]
        )


def test_an_empty_batch_gives_no_results(tiny_engine: Blip2Engine) -> None:
    assert tiny_engine.generate_batch([]) == []


def test_prompt_budget_leaves_room_for_the_image_and_the_answer(tiny_engine: Blip2Engine) -> None:
    # Tiny OPT: 128 positions - 8 query tokens - 32 answer headroom - 2 markers.
    assert tiny_engine.prompt_budget_tokens == 86
    assert tiny_engine.count_tokens("Question: what is it? Answer:") == 8


def test_an_over_long_question_is_cut_to_fit_not_an_error(
    tiny_engine: Blip2Engine, make_photo: Photo
) -> None:
    question = "what does the sign say " * 60  # far beyond the tiny model's 128 positions
    prompt = question_prompt(
        question, [], count_tokens=tiny_engine.count_tokens, budget_tokens=tiny_engine.prompt_budget_tokens
    )
    assert tiny_engine.count_tokens(prompt) > 128

    [result] = tiny_engine.generate_batch([request(make_photo(1), prompt, GREEDY)])

    assert result.text.strip()


# precision, device and errors


def test_fp16_on_cpu_loads_fp32_with_a_warning(
    tiny_blip2_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        engine = load_engine(str(tiny_blip2_dir), device="cpu", precision="fp16")

    assert isinstance(engine, Blip2Engine)
    assert engine.model.dtype == torch.float32
    assert "fp32" in caplog.text


@pytest.mark.parametrize("precision", ["int8", "int4"])
def test_quantisation_on_cpu_is_refused(tiny_blip2_dir: Path, precision: str) -> None:
    with pytest.raises(ModelLoadError, match="CUDA"):
        load_engine(str(tiny_blip2_dir), device="cpu", precision=precision)


def test_unknown_precision_is_refused(tiny_blip2_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="precision"):
        load_engine(str(tiny_blip2_dir), device="cpu", precision="fp8")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused(tiny_blip2_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="CUDA"):
        load_engine(str(tiny_blip2_dir), device="cuda")


def test_a_missing_directory_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        load_engine(str(tmp_path / "no-such-model"), device="cpu")

    message = str(caught.value)
    assert "no-such-model" in message
    assert "\n" not in message and "Traceback" not in message


def test_a_directory_without_a_model_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        load_engine(str(tmp_path), device="cpu")


def test_an_unsupported_architecture_is_refused(tmp_path: Path) -> None:
    config = OPTConfig(hidden_size=16, num_hidden_layers=1, ffn_dim=16, num_attention_heads=2)
    config.save_pretrained(tmp_path)

    with pytest.raises(ModelLoadError, match="'opt'"):
        load_engine(str(tmp_path), device="cpu")


def test_no_answer_is_never_empty(tiny_engine: Blip2Engine, make_photo: Photo) -> None:
    options = GenerationOptions(num_beams=1, max_new_tokens=1, min_new_tokens=1)

    results = tiny_engine.generate_batch([request(make_photo(i), "", options) for i in range(4)])

    assert all(r.text.strip() for r in results)
    assert all(r.text == NO_ANSWER or "\n" not in r.text for r in results)
