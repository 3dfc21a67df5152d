"""The results of `blipbot bench` (and `--workers N`): a flat dict of figures (its JSON) and a table."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
from pathlib import Path
from typing import Any

import torch

from inference.bench.cluster import WorkerSettings
from inference.bench.conversations import Run
from inference.bench.crowd import Affinity
from inference.blip2 import Blip2Engine
from inference.types import GenerationOptions


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # Linux reports the peak resident set in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_header(engine: Blip2Engine, size: str, users: int, followups: int, precision: str) -> dict[str, Any]:
    """The figures every in-process bench result starts with: what ran, where, how big."""
    return {
        "device": str(engine.device),
        "size": size,
        "users": users,
        "followups": followups,
        "precision": "fp32" if engine.device.type == "cpu" else precision,  # the CPU always runs fp32
        "params_m": round(sum(p.numel() for p in engine.model.parameters()) / 1e6, 1),
    }


def summarise(
    engine: Blip2Engine,
    size: str,
    users: int,
    followups: int,
    options: GenerationOptions,
    precision: str,
    naive: Run,
    blipbot: Run,
    naive_followups: Run,
    blipbot_followups: Run,
) -> dict[str, Any]:
    naive_rate = naive.count / naive.wall_s
    blipbot_rate = blipbot.count / blipbot.wall_s
    identical = sum(  # token ids, not text: two different answers can decode alike
        a == b
        for user in naive.token_ids
        for a, b in zip(naive.token_ids[user], blipbot.token_ids[user], strict=True)
    )
    results: dict[str, Any] = {
        **run_header(engine, size, users, followups, precision),
        "max_new_tokens": options.max_new_tokens,
        "num_beams": options.num_beams,
        "answers": blipbot.count,
        "answers_identical_to_naive": identical,
        "naive_wall_s": round(naive.wall_s, 3),
        "blipbot_wall_s": round(blipbot.wall_s, 3),
        "naive_answers_per_s": round(naive_rate, 3),
        "blipbot_answers_per_s": round(blipbot_rate, 3),
        "speedup": round(blipbot_rate / naive_rate, 2),
        "p50_ms": round(percentile(blipbot.latencies_s, 0.5) * 1000, 1),
        "p95_ms": round(percentile(blipbot.latencies_s, 0.95) * 1000, 1),
        "naive_p50_ms": round(percentile(naive.latencies_s, 0.5) * 1000, 1),
        "peak_memory_mb": round(peak_memory_mb(engine.device), 1),
        "feature_cache": {"hits": engine.features.stats.hits, "misses": engine.features.stats.misses},
        "prefix_cache": {"hits": engine.prefixes.stats.hits, "misses": engine.prefixes.stats.misses},
    }
    if naive_followups.followup_latencies_s and blipbot_followups.followup_latencies_s:
        naive_ms = statistics.median(naive_followups.followup_latencies_s) * 1000
        blipbot_ms = statistics.median(blipbot_followups.followup_latencies_s) * 1000
        results.update(
            naive_followup_ms=round(naive_ms, 1),
            blipbot_followup_ms=round(blipbot_ms, 1),
            followup_speedup=round(naive_ms / blipbot_ms, 2),
        )
    return results


def render_table(r: dict[str, Any]) -> str:
    lines = [
        f"blipbot bench: size={r['size']} ({r['params_m']}M params) device={r['device']} "
        f"precision={r['precision']} users={r['users']} followups={r['followups']} "
        f"max_new_tokens={r['max_new_tokens']} beams={r['num_beams']}",
        f"{'':28}{'naive':>12}{'blipbot':>12}",
        f"{'answers':28}{r['answers']:>12}{r['answers']:>12}",
        f"{'wall time (s)':28}{r['naive_wall_s']:>12.2f}{r['blipbot_wall_s']:>12.2f}",
        f"{'answers / s':28}{r['naive_answers_per_s']:>12.2f}{r['blipbot_answers_per_s']:>12.2f}"
        f"   speedup {r['speedup']:.2f}x",
        f"{'latency p50 / p95 (ms)':28}{r['naive_p50_ms']:>12.0f}{r['p50_ms']:>7.0f} /{r['p95_ms']:>4.0f}",
    ]
    if "followup_speedup" in r:
        lines.append(
            f"{'one-user follow-up (ms)':28}{r['naive_followup_ms']:>12.0f}{r['blipbot_followup_ms']:>12.0f}"
            f"   followup_speedup {r['followup_speedup']:.2f}x"
        )
    lines.append(f"{'peak memory (MB)':28}{r['peak_memory_mb']:>24.0f}")
    lines.append(f"answers identical to naive: {r['answers_identical_to_naive']}/{r['answers']}")
    if "decode_ms_per_step_batch1" in r:
        lines.append(
            f"{r['gpu']}: weights {r['weights_mb']:.0f} MB, decode ms/step at batch 1 "
            f"{r['decode_ms_per_step_batch1']:.2f} (bandwidth floor {r['bandwidth_floor_ms_per_step']:.2f}), "
            f"at batch 16 {r['decode_ms_per_step_batch16']:.2f}"
        )
    if "fp16_weights_mb" in r:
        lines.append(
            f"same model in fp16: weights {r['fp16_weights_mb']:.0f} MB, decode ms/step at batch 1 "
            f"{r['fp16_decode_ms_per_step_batch1']:.2f}, "
            f"at batch 16 {r['fp16_decode_ms_per_step_batch16']:.2f}"
        )
    return "\n".join(lines)


def machine_description() -> str:
    """The CPU model, its core count and the OS, for telling runs on different machines apart."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def summarise_scaleout(
    engine: Blip2Engine,
    size: str,
    users: int,
    followups: int,
    options: GenerationOptions,
    settings: WorkerSettings,
    configured_max_batch_size: int,
    workers: int,
    one: Run,
    many: Run,
    spread: Affinity,
) -> dict[str, Any]:
    """`blipbot bench --workers N`: the same crowd on one worker process and on N, over Redis."""
    one_rate = one.count / one.wall_s
    many_rate = many.count / many.wall_s
    hit_rate = spread.hit_rate
    return {
        "mode": "workers",
        "size": size,
        "device": settings.device,
        "precision": "fp32" if settings.device == "cpu" else settings.precision,  # the CPU always runs fp32
        "params_m": round(sum(p.numel() for p in engine.model.parameters()) / 1e6, 1),
        "users": users,
        "followups": followups,
        "max_new_tokens": options.max_new_tokens,
        "num_beams": options.num_beams,
        "max_batch_size": settings.max_batch_size,
        "configured_max_batch_size": configured_max_batch_size,
        "batch_wait_ms": settings.batch_wait_ms,
        "workers": workers,
        "answers": many.count,
        "answers_1_worker": one.count,
        "wall_s_1_worker": round(one.wall_s, 3),
        "wall_s_n_workers": round(many.wall_s, 3),
        "answers_per_s_1_worker": round(one_rate, 3),
        "answers_per_s_n_workers": round(many_rate, 3),
        "scaleout_speedup": round(many_rate / one_rate, 2),
        "p50_ms_1_worker": round(percentile(one.latencies_s, 0.5) * 1000, 1),
        "p50_ms_n_workers": round(percentile(many.latencies_s, 0.5) * 1000, 1),
        "answers_per_worker": spread.answers_per_worker,
        "followup_cache_hit_rate": None if hit_rate is None else round(hit_rate, 3),
        "machine": machine_description(),
    }


def render_scaleout_table(r: dict[str, Any]) -> str:
    hit_rate = r["followup_cache_hit_rate"]
    n_workers = f"{r['workers']} worker" + ("s" if r["workers"] != 1 else "")
    lines = [
        f"blipbot bench --workers {r['workers']}: size={r['size']} ({r['params_m']}M params) "
        f"device={r['device']} precision={r['precision']} users={r['users']} followups={r['followups']} "
        f"max_new_tokens={r['max_new_tokens']} beams={r['num_beams']}",
        f"each worker: one process, one torch thread, batches of up to {r['max_batch_size']} "
        "(from the shared stream each takes its share of a burst: max_batch_size / live workers)",
        f"{'':28}{'1 worker':>12}{n_workers:>12}",
        f"{'answers':28}{r['answers_1_worker']:>12}{r['answers']:>12}",
        f"{'wall time (s)':28}{r['wall_s_1_worker']:>12.2f}{r['wall_s_n_workers']:>12.2f}",
        f"{'answers / s':28}{r['answers_per_s_1_worker']:>12.2f}{r['answers_per_s_n_workers']:>12.2f}"
        f"   scaleout_speedup {r['scaleout_speedup']:.2f}x",
        f"{'latency p50 (ms)':28}{r['p50_ms_1_worker']:>12.0f}{r['p50_ms_n_workers']:>12.0f}",
        f"{'answers per worker':28}{'':>12}{' / '.join(map(str, r['answers_per_worker'])):>12}",
        "follow-up cache hit rate: " + ("n/a (no follow-ups)" if hit_rate is None else f"{hit_rate:.2f}"),
        f"machine: {r['machine']}",
    ]
    return "\n".join(lines)
