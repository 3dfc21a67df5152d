"""A tiny BLIP-2 whose answers depend on the photo, for the cache, batching and worker tests."""

from __future__ import annotations

from typing import Any

import pytest
import torch

#: How much to strengthen the tiny Q-Former's cross-attention (see `make_photos_matter`).
CROSS_ATTENTION_GAIN = 30.0


def make_photos_matter(model: Any) -> None:
    """Strengthen the Q-Former's reading of the photo, which random weights leave negligible.

    At random init the tiny model's image features vary across photos by under 1% of their size,
    and every photo gets the same answer: a cache mixing photos up would go unnoticed. Scaling the
    cross-attention's value and output weights makes the photo decide the answer, as in a trained model.
    """
    with torch.no_grad():
        for layer in model.qformer.encoder.layer:
            if layer.has_cross_attention:
                layer.crossattention.attention.value.weight.mul_(CROSS_ATTENTION_GAIN)
                layer.crossattention.output.dense.weight.mul_(CROSS_ATTENTION_GAIN)


@pytest.fixture(scope="session")
def tiny() -> tuple[Any, Any]:
    """(model, processor): shared, so tests build engines around it and must not change its weights."""
    from inference.random_model import build_blip2

    model, processor = build_blip2("tiny", seed=3)
    make_photos_matter(model)
    return model, processor
