"""`build_blip2(dtype=...)` makes a half-precision model directly, with the dtypes `from_pretrained` gives.

The GPU bench builds "full" this way instead of filling 15 GB in fp32 and loading a copy back, so
the random model must run the same dtypes as a downloaded checkpoint: the Q-Former in fp32 for
fp16 (BLIP-2's `_keep_in_fp32_modules`), everything in bf16 for bf16.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import Blip2ForConditionalGeneration

from inference.bench.random_model import LanguageModel, build_blip2, save_blip2


def dtypes(model: torch.nn.Module) -> dict[str, torch.dtype]:
    return {name: parameter.dtype for name, parameter in model.named_parameters()}


@pytest.mark.parametrize("language_model", ["opt", "t5"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_model_has_the_dtypes_from_pretrained_gives(
    language_model: LanguageModel, dtype: torch.dtype, tmp_path: Path
) -> None:
    save_blip2(tmp_path, "tiny", language_model)
    loaded = Blip2ForConditionalGeneration.from_pretrained(tmp_path, dtype=dtype)

    built, _ = build_blip2("tiny", language_model, dtype=dtype)

    assert dtypes(built) == dtypes(loaded)


def test_fp16_keeps_the_qformer_in_fp32_and_the_rest_in_fp16() -> None:
    model, _ = build_blip2("tiny", dtype=torch.float16)

    kept = {name for name, dtype in dtypes(model).items() if dtype == torch.float32}
    assert kept and all(name.startswith(("qformer.", "query_tokens")) for name in kept)
    assert model.language_model.get_output_embeddings().weight.dtype == torch.float16
    assert model.vision_model.embeddings.patch_embedding.weight.dtype == torch.float16


def test_the_default_is_fp32_and_leaves_the_default_dtype_alone() -> None:
    model, _ = build_blip2("tiny", dtype=torch.bfloat16)
    fp32, _ = build_blip2("tiny")

    assert torch.get_default_dtype() == torch.float32
    assert set(dtypes(fp32).values()) == {torch.float32}
    assert model.language_model.get_output_embeddings().weight.dtype == torch.bfloat16


def test_a_half_model_answers(make_photo: Callable[..., Image.Image]) -> None:
    model, processor = build_blip2("tiny", dtype=torch.bfloat16)

    inputs = processor(images=[make_photo()], text=["a photo of"], return_tensors="pt")
    inputs["pixel_values"] = inputs["pixel_values"].to(torch.bfloat16)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3)

    assert output.shape[1] == inputs["input_ids"].shape[1] + 3
