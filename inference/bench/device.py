"""GPU figures for `blipbot bench`: decoding time per step next to the memory-bandwidth floor.

Decoding one token reads every language-model weight once, so weight bytes divided by the GPU's
memory bandwidth is the fastest a step can be at batch 1; the ratio shows how far the engine is
from the hardware. Written for CUDA and unmeasured in CI (no GPU there).
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

import torch
from PIL import Image

from inference.blip2 import Blip2Engine
from inference.types import GenerationOptions, GenerationRequest

#: Peak memory bandwidth in GB/s from the vendors' datasheets, most specific name first.
BANDWIDTH_GB_S = {
    "H200": 4800,
    "H100 NVL": 3900,
    "H100 PCIe": 2000,
    "H100": 3350,
    "GH200": 4000,
    "A100 80GB PCIe": 1935,
    "A100-SXM4-80GB": 2039,
    "A100": 1555,
    "L40S": 864,
    "L40": 864,
    "L4": 300,
    "A10G": 600,
    "A10": 600,
    "T4": 320,
    "V100": 900,
    "RTX 4090": 1008,
    "RTX 3090": 936,
}
DECODE_STEPS = 32


def bandwidth_gb_s(device: torch.device) -> tuple[float, str]:
    """The GPU's memory bandwidth and where it came from: the table by name, or a measured copy."""
    name = torch.cuda.get_device_name(device)
    for known, value in BANDWIDTH_GB_S.items():
        if known in name:
            return float(value), "datasheet"
    return measured_copy_gb_s(device), "measured"


def measured_copy_gb_s(device: torch.device, megabytes: int = 512, repeats: int = 10) -> float:
    """Device-to-device copy bandwidth: each copy reads and writes every byte once."""
    source = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        target.copy_(source)
    torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - started
    return 2 * source.numel() * repeats / elapsed / 1e9


def weight_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's weights as stored (bitsandbytes packs 8-bit and 4-bit weights in uint8)."""
    return sum(p.numel() * p.element_size() for p in module.parameters())


def decode_ms_per_step(engine: Blip2Engine, options: GenerationOptions, batch: int = 1) -> float:
    """Milliseconds per decoded token at `batch`: a long answer's time less a one-token answer's.

    The photo's features and prompt prefix are cached by the first call, so the difference is
    decoding alone.
    """
    rng = random.Random(batch)
    requests = []
    for _ in range(batch):
        photo = Image.frombytes("RGB", (224, 224), rng.randbytes(224 * 224 * 3))
        key = hashlib.sha256(photo.tobytes()).hexdigest()
        requests.append(GenerationRequest(photo, key, "Question: what is it? Answer:", options))

    def timed(tokens: int) -> float:
        exact = GenerationOptions(num_beams=options.num_beams, max_new_tokens=tokens, min_new_tokens=tokens)
        batch_requests = [GenerationRequest(r.image, r.image_key, r.prompt, exact) for r in requests]
        torch.cuda.synchronize(engine.device)
        started = time.perf_counter()
        engine.generate_batch(batch_requests)
        torch.cuda.synchronize(engine.device)
        return time.perf_counter() - started

    timed(1 + DECODE_STEPS)  # warm: caches, allocator, kernels
    short = min(timed(1) for _ in range(3))
    long = min(timed(1 + DECODE_STEPS) for _ in range(3))
    return (long - short) / DECODE_STEPS * 1000


def cuda_figures(engine: Blip2Engine, options: GenerationOptions) -> dict[str, Any]:
    """decode_ms_per_step_batch1 (and at batch 16), the bandwidth floor, and the weights' size."""
    bandwidth, source = bandwidth_gb_s(engine.device)
    language_bytes = weight_bytes(engine.model.language_model)
    return {
        "gpu": torch.cuda.get_device_name(engine.device),
        "weights_mb": round(weight_bytes(engine.model) / 2**20, 1),
        "decode_ms_per_step_batch1": round(decode_ms_per_step(engine, options, 1), 3),
        "decode_ms_per_step_batch16": round(decode_ms_per_step(engine, options, 16), 3),
        "bandwidth_gb_s": bandwidth,
        "bandwidth_source": source,
        "bandwidth_floor_ms_per_step": round(language_bytes / (bandwidth * 1e9) * 1000, 3),
    }
