"""Load the configured model as an `Engine`: the one entry point the worker and the CLI call.

The checkpoint's own config picks the implementation (BLIP-2 or BLIP captioning), so the rest of
the bot never branches on the model family. Loading is a step of its own, separate from building
an engine, so tests construct engines from random in-memory models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from inference.blip import BlipCaptionEngine
from inference.blip2 import Blip2Engine
from inference.kv_prefix import DEFAULT_KV_CACHE_TOKENS
from inference.loading import PRECISIONS, ModelLoadError, needs_download, read_config, resolve_device
from inference.memory import available_memory, checkpoint_bytes, ensure_fits, gigabytes, memory_need
from inference.types import Engine

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_MODEL = "Salesforce/blip2-opt-2.7b"
#: What recent photos' image features may take unless told otherwise (about 160 KiB a photo for
#: blip2-opt-2.7b in fp16). Key/value prefixes have their own budget, `DEFAULT_KV_CACHE_TOKENS`.
DEFAULT_EMBEDDING_CACHE_MB = 256

__all__ = [
    "DEFAULT_KV_CACHE_TOKENS",
    "DEFAULT_MODEL",
    "PRECISIONS",
    "Blip2Engine",
    "BlipCaptionEngine",
    "ModelLoadError",
    "load_engine",
]


def load_engine(
    model: str = DEFAULT_MODEL,
    *,
    device: str = "auto",
    precision: str = "fp32",
    caption_prefix: str = "",
    embedding_cache_mb: float = DEFAULT_EMBEDDING_CACHE_MB,
    kv_cache_tokens: int = DEFAULT_KV_CACHE_TOKENS,
    static_cache: bool = False,
    compile: bool = False,
    memory: Callable[[torch.device], int | None] = available_memory,
) -> Engine:
    """Load `model` (a Hub id or a local directory) and wrap it in the engine for its family.

    `device` is "auto" (the GPU if there is one), "cpu", "cuda" or "cuda:N"; `precision` is one of
    `PRECISIONS` (int8/int4 need CUDA and bitsandbytes). `caption_prefix` is the text captions
    start from; only BLIP v1 needs to know it, to tell captions from questions. BLIP-2 only:
    `embedding_cache_mb` bounds the remembered image features, `kv_cache_tokens` the remembered
    key/value prefixes, in tokens (0 turns either off); `static_cache` and `compile` are GPU
    experiments, off by default (see `Blip2Engine`). Slow (seconds to minutes): call it once at
    start-up, off the event loop. Raises `ModelLoadError`, also before any weights are read when
    the model cannot fit in what `memory` says the device has free.
    """
    config = read_config(model)
    model_type = config.model_type
    if model_type not in ("blip-2", "blip"):
        raise ModelLoadError(
            f"{model!r} is a {model_type!r} model; blipbot runs BLIP-2 (blip-2) and BLIP captioning (blip) "
            "models"
        )
    need = memory_need(model, config, device=resolve_device(device), precision=precision)
    ensure_fits(need, memory(need.device))
    if needs_download(model):
        log.info(
            "downloading %s (about %s) from the Hugging Face hub; the first start takes a while",
            model,
            gigabytes(checkpoint_bytes(config, need.parameters)),
        )
    if model_type == "blip-2":
        return Blip2Engine.load(
            model,
            device=device,
            precision=precision,
            embedding_cache_mb=embedding_cache_mb,
            kv_cache_tokens=kv_cache_tokens,
            static_cache=static_cache,
            compile=compile,
        )
    return BlipCaptionEngine.load(model, device=device, precision=precision, caption_prefix=caption_prefix)
