"""A shared tiny BLIP-2 (its answers depend on the photo) for the cache, batching and worker tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny() -> tuple[Any, Any]:
    """(model, processor): shared, so tests build engines around it and must not change its weights."""
    from inference.bench.random_model import build_blip2

    model, processor = build_blip2("tiny", seed=3)  # photos decide its answers: see make_photos_matter
    return model, processor


@pytest.fixture
def vision_calls(tiny: tuple[Any, Any]) -> Iterator[list[int]]:
    """Counts forward passes of the vision tower (one per batch of photos that needed it)."""
    calls: list[int] = []
    handle = tiny[0].vision_model.register_forward_hook(lambda module, args, out: calls.append(1))
    yield calls
    handle.remove()
