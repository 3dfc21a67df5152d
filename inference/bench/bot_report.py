"""The figures of `blipbot bench --workload bot` (its JSON) and the table printed from them."""

from __future__ import annotations

import statistics
from typing import Any

from inference.bench.bot_run import BotRun, compared_requests
from inference.bench.report import machine_description, peak_memory_mb, percentile, run_header
from inference.bench.workload import BotWorkload
from inference.blip2 import Blip2Engine


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def summarise_bot(
    engine: Blip2Engine,
    size: str,
    workload: BotWorkload,
    users: int,
    followups: int,
    precision: str,
    run: BotRun,
) -> dict[str, Any]:
    naive, blipbot = run.naive, run.blipbot
    naive_rate = users / naive.photos.wall_s
    blipbot_rate = users / blipbot.photos.wall_s
    same, compared = compared_requests(run)
    idle_p50 = percentile(blipbot.alone_photos.latencies_s, 0.5)
    results: dict[str, Any] = {
        "workload": "bot",
        **run_header(engine, size, users, followups, precision),
        "caption_beams": workload.caption.num_beams,
        "caption_new_tokens": workload.caption.max_new_tokens,
        "answer_beams": workload.answer.num_beams,
        "answer_new_tokens": workload.answer.max_new_tokens,
        "requests_per_photo": len(workload.description()),
        "naive_photos_per_s": round(naive_rate, 3),
        "blipbot_photos_per_s": round(blipbot_rate, 3),
        "photo_speedup": round(blipbot_rate / naive_rate, 2),
        "batch_ceiling": round(naive.photos.wall_s / run.ceiling_s, 2),
        "ceiling_photos_per_s": round(users / run.ceiling_s, 3),
        "naive_description_ms": _ms(statistics.median(naive.alone_photos.latencies_s)),
        "idle_description_p50_ms": _ms(idle_p50),
        "description_p50_ms": _ms(percentile(blipbot.photos.latencies_s, 0.5)),
        "description_p95_ms": _ms(percentile(blipbot.photos.latencies_s, 0.95)),
        "requests_compared": compared,
        "requests_identical_to_naive": same,
        "token_match_rate": round(same / compared, 4) if compared else None,
        "peak_memory_mb": round(peak_memory_mb(engine.device), 1),
        "feature_cache": _stats(engine.features.stats),
        "prefix_cache": _stats(engine.prefixes.stats),
        "machine": machine_description(),
    }
    if followups:
        naive_ms = statistics.median(naive.alone_followups.followup_latencies_s) * 1000
        blipbot_ms = statistics.median(blipbot.alone_followups.followup_latencies_s) * 1000
        results.update(
            naive_followups_per_s=round(users * followups / naive.followups.wall_s, 3),
            blipbot_followups_per_s=round(users * followups / blipbot.followups.wall_s, 3),
            naive_followup_ms=round(naive_ms, 1),
            blipbot_followup_ms=round(blipbot_ms, 1),
            followup_speedup=round(naive_ms / blipbot_ms, 2),
        )
    if run.load is not None and run.arrival_rate_per_s is not None:
        load_p95 = percentile(run.load.latencies_s, 0.95)
        results.update(
            arrival_rate_per_s=round(run.arrival_rate_per_s, 3),
            load_photos=len(run.load.latencies_s),
            load_description_p50_ms=_ms(percentile(run.load.latencies_s, 0.5)),
            load_description_p95_ms=_ms(load_p95),
            load_queue_wait_p50_ms=_ms(percentile(run.load.waits_s, 0.5)),
            load_queue_wait_p95_ms=_ms(percentile(run.load.waits_s, 0.95)),
            load_p95_over_idle_p50=round(load_p95 / idle_p50, 2),
        )
    return results


def _stats(stats: Any) -> dict[str, int]:
    return {"hits": stats.hits, "misses": stats.misses, "evictions": stats.evictions}


def render_bot_table(r: dict[str, Any]) -> str:
    lines = [
        f"blipbot bench --workload bot: size={r['size']} ({r['params_m']}M params) device={r['device']} "
        f"precision={r['precision']} users={r['users']} followups={r['followups']} "
        f"scheduling={r.get('scheduling', 'turns')}",
        f"a photo is {r['requests_per_photo']} requests: a caption ({r['caption_beams']} beams, "
        f"{r['caption_new_tokens']} tokens) and detail questions ({r['answer_beams']} beams, "
        f"{r['answer_new_tokens']} tokens)",
        f"{'':30}{'naive':>12}{'blipbot':>12}",
        f"{'photos / s (all at once)':30}{r['naive_photos_per_s']:>12.2f}{r['blipbot_photos_per_s']:>12.2f}"
        f"   photo_speedup {r['photo_speedup']:.2f}x (bare batching alone: {r['batch_ceiling']:.2f}x)",
        f"{'description, alone (ms)':30}{r['naive_description_ms']:>12.0f}"
        f"{r['idle_description_p50_ms']:>12.0f}",
        f"{'description p50 / p95 (ms)':30}{'':>12}{r['description_p50_ms']:>7.0f} /"
        f"{r['description_p95_ms']:>5.0f}   (everyone at once)",
    ]
    if "followup_speedup" in r:
        lines += [
            f"{'follow-ups / s (all at once)':30}{r['naive_followups_per_s']:>12.2f}"
            f"{r['blipbot_followups_per_s']:>12.2f}",
            f"{'one-user follow-up (ms)':30}{r['naive_followup_ms']:>12.0f}{r['blipbot_followup_ms']:>12.0f}"
            f"   followup_speedup {r['followup_speedup']:.2f}x",
        ]
    if "load_p95_over_idle_p50" in r:
        lines.append(
            f"under load ({r['load_photos']} photos, Poisson, {r['arrival_rate_per_s']:.2f}/s): description "
            f"p50 {r['load_description_p50_ms']:.0f} ms, p95 {r['load_description_p95_ms']:.0f} ms, "
            f"load_p95_over_idle_p50 {r['load_p95_over_idle_p50']:.2f}; of which waiting for a batch "
            f"to start it: p50 {r['load_queue_wait_p50_ms']:.0f} ms, p95 {r['load_queue_wait_p95_ms']:.0f} ms"
        )
    prefix = r["prefix_cache"]
    lines += [
        f"{'peak memory (MB)':30}{r['peak_memory_mb']:>24.0f}",
        f"key/value prefixes: {prefix['hits']} hits, {prefix['misses']} misses, "
        f"{prefix['evictions']} evictions",
        f"token ids identical to naive: {r['requests_identical_to_naive']}/{r['requests_compared']}",
        f"machine: {r['machine']}",
    ]
    return "\n".join(lines)
