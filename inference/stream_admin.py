"""`blipbot queue`: what the Redis Streams hold, who holds it, and the dead letters put back.

Read-only but for `retry_dead`, which moves dead-lettered jobs back to the shared stream (with
their delivery count starting again) and removes them from the dead-letter stream.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from inference.streams import STREAM_MAXLEN, StreamNames, as_text


async def queue_report(redis: Redis, names: StreamNames) -> str:
    """One line per stream (length, waiting, pending per worker with idle time), then the dead letters."""
    workers = sorted(as_text(w) for w in await redis.smembers(names.workers))
    lines = []
    for stream in [names.jobs, *[names.worker_jobs(w) for w in workers]]:
        if not await redis.exists(stream):
            continue
        line = f"{stream}: length {await redis.xlen(stream)}"
        try:
            groups = await redis.xinfo_groups(stream)
        except ResponseError:
            groups = []
        for group in groups:
            line += f", waiting {int(group.get('lag') or 0)}, pending {int(group.get('pending') or 0)}"
        lines.append(line)
        for holder in await _pending_by_worker(redis, stream, names.group):
            alive = "alive" if await redis.exists(names.worker_alive(holder["worker"])) else "gone"
            lines.append(
                f"  worker {holder['worker']} ({alive}): {holder['count']} pending, "
                f"idle up to {holder['idle_ms'] / 1000:.1f} s"
            )
    dead = await redis.xrange(names.dead, count=20)
    lines.append(f"{names.dead}: {await redis.xlen(names.dead)} dead letters")
    for entry_id, fields in dead:
        text = {as_text(k): as_text(v) for k, v in fields.items()}
        lines.append(f"  {as_text(entry_id)} job {text.get('job', '?')} photo {text.get('photo', '?')}")
    if not lines[:-1] and not dead:
        lines.insert(0, "no jobs have been queued yet")
    return "\n".join(lines)


async def retry_dead(redis: Redis, names: StreamNames) -> int:
    """Put every dead letter back on the shared stream; returns how many went back."""
    moved = 0
    for entry_id, fields in await redis.xrange(names.dead):
        job = {as_text(k): as_text(v) for k, v in fields.items() if as_text(k) != "from"}
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xadd(names.jobs, job, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.xdel(names.dead, entry_id)
            await pipe.execute()
        moved += 1
    return moved


async def _pending_by_worker(redis: Redis, stream: str, group: str) -> list[dict[str, Any]]:
    try:
        entries = await redis.xpending_range(stream, group, min="-", max="+", count=1000)
    except ResponseError:
        return []
    by_worker: dict[str, dict[str, Any]] = {}
    for entry in entries:
        worker = as_text(entry["consumer"])
        holder = by_worker.setdefault(worker, {"worker": worker, "count": 0, "idle_ms": 0})
        holder["count"] += 1
        holder["idle_ms"] = max(holder["idle_ms"], int(entry["time_since_delivered"]))
    return list(by_worker.values())
