from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoProcessor,
    Blip2ForConditionalGeneration,
    BlipForConditionalGeneration,
)

from inference.bench.random_model import IMAGE_TOKEN, blip2_config, blip2_tokenizer, build_blip2


def test_opt_tokenizer_matches_opt_conventions() -> None:
    tokenizer = blip2_tokenizer("tiny", "opt")
    config = blip2_config("tiny", "opt", tokenizer)

    ids = tokenizer("a dog")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id == config.text_config.bos_token_id == 2
    assert tokenizer.pad_token_id == config.text_config.pad_token_id == 1
    assert tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == config.image_token_index
    assert config.text_config.vocab_size == len(tokenizer)
    assert tokenizer.decode(ids, skip_special_tokens=True) == "a dog"


def test_t5_tokenizer_matches_flan_t5_conventions() -> None:
    tokenizer = blip2_tokenizer("tiny", "t5")
    config = blip2_config("tiny", "t5", tokenizer)

    ids = tokenizer("a dog")["input_ids"]
    assert ids[-1] == tokenizer.eos_token_id == config.text_config.eos_token_id == 1
    assert tokenizer.pad_token_id == config.text_config.pad_token_id == 0
    assert config.text_config.decoder_start_token_id == 0
    assert tokenizer.convert_tokens_to_ids(IMAGE_TOKEN) == config.image_token_index


@pytest.mark.parametrize(
    ("size", "expected_millions"),
    [("tiny", 0.09), ("small", 67), ("full", 3745)],
)
def test_sizes_have_the_intended_parameter_counts(size: str, expected_millions: float) -> None:
    with torch.device("meta"):  # shapes only, no memory
        model = Blip2ForConditionalGeneration(blip2_config(size, "opt"))

    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert millions == pytest.approx(expected_millions, rel=0.1)


def test_full_has_the_blip2_opt_2_7b_architecture() -> None:
    config = blip2_config("full", "opt")

    vision, qformer, text = config.vision_config, config.qformer_config, config.text_config
    assert (vision.hidden_size, vision.num_hidden_layers, vision.intermediate_size) == (1408, 39, 6144)
    assert (vision.image_size, vision.patch_size) == (224, 14)
    assert (qformer.hidden_size, qformer.num_hidden_layers, config.num_query_tokens) == (768, 12, 32)
    assert (text.hidden_size, text.num_hidden_layers, text.ffn_dim) == (2560, 32, 10240)
    assert (text.num_attention_heads, text.vocab_size) == (32, 50304)


def test_the_seed_decides_the_weights() -> None:
    first, _ = build_blip2("tiny", seed=0)
    again, _ = build_blip2("tiny", seed=0)
    other, _ = build_blip2("tiny", seed=1)

    assert torch.equal(first.query_tokens, again.query_tokens)
    assert not torch.equal(first.query_tokens, other.query_tokens)
    assert first.query_tokens.abs().sum() > 0


def test_saved_blip2_loads_with_from_pretrained(tiny_blip2_dir: Path) -> None:
    model = Blip2ForConditionalGeneration.from_pretrained(tiny_blip2_dir)
    processor = AutoProcessor.from_pretrained(tiny_blip2_dir)

    assert AutoConfig.from_pretrained(tiny_blip2_dir).model_type == "blip-2"
    assert processor.num_query_tokens == model.config.num_query_tokens
    assert model.query_tokens.abs().sum() > 0
    assert model.config.vision_config.initializer_range == pytest.approx(0.02)


def test_saved_blip_loads_with_from_pretrained(tiny_blip_dir: Path) -> None:
    model = BlipForConditionalGeneration.from_pretrained(tiny_blip_dir)
    processor = AutoProcessor.from_pretrained(tiny_blip_dir)

    assert AutoConfig.from_pretrained(tiny_blip_dir).model_type == "blip"
    assert processor.tokenizer.convert_tokens_to_ids("[DEC]") == model.config.text_config.bos_token_id
