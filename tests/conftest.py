"""Shared fixtures: tiny random-weight models saved to disk once per session, and test photos.

The models are built by `inference.bench.random_model` (no downloads), and torch is imported only
when a test asks for one, so the tests that need no model stay fast.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

if TYPE_CHECKING:
    from inference.blip2 import Blip2Engine


def make_photo(
    seed: int = 0, size: tuple[int, int] = (64, 48), color: tuple[int, int, int] | None = None
) -> Image.Image:
    """An RGB picture: a base colour (from `seed` unless given) under seeded noise and a few blocks."""
    rng = random.Random(seed)
    base = color or (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    width, height = size
    noise = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(width * height * 3)))
    image = Image.blend(Image.new("RGB", size, base), noise, 0.35)
    for _ in range(3):
        left, top = rng.randrange(width), rng.randrange(height)
        block = (left, top, min(width, left + width // 3), min(height, top + height // 3))
        image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), block)
    return image


@pytest.fixture(name="make_photo")
def make_photo_fixture() -> Callable[..., Image.Image]:
    return make_photo


@pytest.fixture(scope="session")
def tiny_blip2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BLIP-2 with an OPT language model, saved as `from_pretrained` expects."""
    from inference.bench.random_model import save_blip2

    return save_blip2(tmp_path_factory.mktemp("tiny-blip2-opt"), "tiny", "opt")


@pytest.fixture(scope="session")
def tiny_blip2_t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BLIP-2 with a Flan-T5-style language model."""
    from inference.bench.random_model import save_blip2

    return save_blip2(tmp_path_factory.mktemp("tiny-blip2-t5"), "tiny", "t5")


@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BLIP (v1) captioner."""
    from inference.bench.random_model import save_blip

    return save_blip(tmp_path_factory.mktemp("tiny-blip"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_blip2_dir: Path) -> Blip2Engine:
    """The OPT BLIP-2 above, loaded on the CPU. Shared: tests must not leave changes on it."""
    from inference.blip2 import Blip2Engine
    from inference.model import load_engine

    engine = load_engine(str(tiny_blip2_dir), device="cpu")
    assert isinstance(engine, Blip2Engine)
    return engine
