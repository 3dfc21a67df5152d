"""The phases of `blipbot bench --workload bot`, in one process, on one engine and one worker.

1. The crowd: every person sends a photo at once (naive: one description after another), then
   asks `followups` questions, each after the previous answer.
2. The ceiling: the crowd's description requests as bare batched `generate` calls.
3. Alone: a few people one at a time, naive and blipbot alternating, for the unloaded time to
   description and the follow-up latency (batching plays no part in either).
4. Under load: photos arriving at Poisson times, by default at 70% of the capacity measured in 1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from inference.bench.conversations import NaiveBot, Run, photos, serve_naively, serve_with_worker
from inference.bench.workload import (
    BotWorkload,
    PhotoRun,
    describe_in_bare_batches,
    describe_naively,
    describe_with_worker,
    poisson_arrivals,
)
from inference.blip2 import Blip2Engine
from inference.queue import InferenceQueue

#: People served one at a time in phase 3.
ALONE_USERS = 5
#: Load is offered at this share of the capacity the crowd phase measured, unless told otherwise.
DEFAULT_LOAD_SHARE = 0.7


@dataclass(slots=True)
class Side:
    """What one way of serving produced in the crowd and alone phases."""

    photos: PhotoRun = field(default_factory=PhotoRun)
    followups: Run = field(default_factory=Run)
    alone_photos: PhotoRun = field(default_factory=PhotoRun)
    alone_followups: Run = field(default_factory=Run)


@dataclass(slots=True)
class BotRun:
    """Everything phase 1 to 4 measured."""

    naive: Side
    blipbot: Side
    ceiling_s: float
    arrival_rate_per_s: float | None = None
    load: PhotoRun | None = None


async def run_bot_workload(
    engine: Blip2Engine,
    queue: InferenceQueue,
    workload: BotWorkload,
    *,
    users: int,
    followups: int,
    max_batch_size: int,
    arrival_rate_per_s: float | None,
    load_photos: int,
) -> BotRun:
    """Phases 1 to 4; `arrival_rate_per_s` 0 skips the load phase, None offers 70% of capacity."""
    naive_bot = NaiveBot(engine, workload.answer)
    naive, blipbot = Side(), Side()
    # Warm both paths (allocator, lazy initialisation) on a photo nobody else sends.
    warm = photos(1, seed=10_000)
    await asyncio.to_thread(describe_naively, naive_bot, workload, warm)
    await describe_with_worker(queue, workload, warm)

    crowd = photos(users, seed=1)
    naive.photos = await asyncio.to_thread(describe_naively, naive_bot, workload, crowd)
    naive.followups = await asyncio.to_thread(
        serve_naively, naive_bot, engine, crowd, followups, first_turn=1
    )
    blipbot.photos = await describe_with_worker(queue, workload, crowd)
    blipbot.followups = await serve_with_worker(
        queue, engine, crowd, followups, workload.answer, first_turn=1
    )
    ceiling_s = await asyncio.to_thread(describe_in_bare_batches, engine, workload, crowd, max_batch_size)

    for index in range(ALONE_USERS):
        alone = photos(1, seed=20_000 + index)
        _merge(naive, await asyncio.to_thread(describe_naively, naive_bot, workload, alone))
        naive.alone_followups.followup_latencies_s += (
            await asyncio.to_thread(serve_naively, naive_bot, engine, alone, followups, first_turn=1)
        ).followup_latencies_s
        _merge(blipbot, await describe_with_worker(queue, workload, alone))
        blipbot.alone_followups.followup_latencies_s += (
            await serve_with_worker(queue, engine, alone, followups, workload.answer, first_turn=1)
        ).followup_latencies_s

    run = BotRun(naive, blipbot, ceiling_s)
    rate = arrival_rate_per_s
    if rate is None:
        rate = DEFAULT_LOAD_SHARE * users / blipbot.photos.wall_s
    if rate > 0 and load_photos > 0:
        arrivals = poisson_arrivals(load_photos, rate)
        run.arrival_rate_per_s = rate
        run.load = await describe_with_worker(
            queue, workload, photos(load_photos, seed=30_000), arrivals_s=arrivals
        )
    return run


def _merge(side: Side, alone: PhotoRun) -> None:
    side.alone_photos.latencies_s += alone.latencies_s
    side.alone_photos.token_ids.update(
        {len(side.alone_photos.token_ids): ids for ids in alone.token_ids.values()}
    )


def compared_requests(run: BotRun) -> tuple[int, int]:
    """(requests whose token ids match the naive loop's, requests compared), crowd and alone phases."""
    pairs = [
        (run.naive.photos.token_ids, run.blipbot.photos.token_ids),
        (run.naive.followups.token_ids, run.blipbot.followups.token_ids),
        (run.naive.alone_photos.token_ids, run.blipbot.alone_photos.token_ids),
    ]
    same = total = 0
    for naive, blipbot in pairs:
        for user, ids in naive.items():
            theirs = blipbot.get(user, [])
            total += len(ids)
            same += sum(a == b for a, b in zip(ids, theirs, strict=False))
    return same, total
