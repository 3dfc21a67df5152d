"""Engines on the shared tiny model (conftest's `tiny`) and requests for them, for the cache tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from PIL import Image

from inference.blip2 import Blip2Engine
from inference.kv_prefix import DEFAULT_KV_CACHE_TOKENS
from inference.types import GenerationOptions, GenerationRequest

Photo = Callable[..., Image.Image]
GREEDY = GenerationOptions(num_beams=1, max_new_tokens=6, min_new_tokens=1)  # repetition penalty 1.5
BEAMS = GenerationOptions(num_beams=3, max_new_tokens=6, min_new_tokens=2)


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
