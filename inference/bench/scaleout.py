"""`blipbot bench --workers N`: the bench's crowd through one, then N, worker processes over Redis.

The random model is built and saved once; each run starts fresh worker processes under a fresh
key prefix, waits until every one has loaded and warmed up, and only then times the crowd, so the
throughput ratio is the queue's scale-out and not process start-up. This process is the front end
(`RedisQueue`); photos travel through a throwaway SQLite store that every process opens.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from inference.bench.cluster import WorkerCluster, WorkerFailed, WorkerSettings
from inference.bench.conversations import photos
from inference.bench.crowd import Affinity, CrowdRun, StoredConversation, affinity, serve_crowd, store_crowd
from inference.bench.random_model import Size
from inference.bench.report import render_scaleout_table, summarise_scaleout
from inference.blip2 import Blip2Engine
from inference.loading import resolve_device
from inference.queue import WorkerBusy
from inference.redis_queue import RedisQueue
from inference.types import GenerationOptions
from storage import Store

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


async def run_scaleout(
    *,
    build_engine: Callable[[], Blip2Engine],
    size: Size,
    users: int,
    followups: int,
    options: GenerationOptions,
    workers: int,
    redis_url: str,
    device: str,
    precision: str,
    max_batch_size: int,
    batch_wait_ms: float,
    embedding_cache_mb: float,
    json_path: Path | None,
) -> int:
    """Serve the crowd with 1 worker, then `workers`; print the table (and JSON); 0 when done.

    `build_engine` makes the model on the CPU, once Redis is known to answer: this process's copy
    is the front end's (for prompt lengths), and it is saved for the workers, which load it on
    `device` in `precision`.
    """
    redis = Redis.from_url(redis_url)
    try:
        await redis.ping()
    except (RedisError, OSError) as error:
        await redis.aclose()
        print(f"blipbot bench: cannot reach Redis at {redis_url} ({type(error).__name__})", file=sys.stderr)
        return 1
    try:
        engine = await asyncio.to_thread(build_engine)
        with tempfile.TemporaryDirectory(prefix="blipbot-bench-") as directory:
            settings = WorkerSettings(
                model_dir=Path(directory) / "model",
                redis_url=redis_url,
                store_url=f"sqlite+aiosqlite:///{directory}/bench.sqlite3",
                device=str(resolve_device(device)),
                precision=precision,
                max_batch_size=max_batch_size,
                batch_wait_ms=batch_wait_ms,
                embedding_cache_mb=embedding_cache_mb,
                max_new_tokens=options.max_new_tokens,
                beams=options.num_beams,
            )
            await asyncio.to_thread(save_engine, engine, settings.model_dir)
            store = await Store.open(settings.store_url)
            try:
                crowd = await store_crowd(store, photos(users, seed=1))
                logs = Path(directory) / "logs"
                one, _ = await run_crowd(redis, store, settings, 1, logs, engine, crowd, followups, options)
                many, spread = await run_crowd(
                    redis, store, settings, workers, logs, engine, crowd, followups, options
                )
            finally:
                await store.close()
    except WorkerFailed as error:
        print(f"blipbot bench: {error}", file=sys.stderr)
        return 1
    except (WorkerBusy, RedisError) as error:
        print(f"blipbot bench: lost Redis at {redis_url} ({type(error).__name__})", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
    results = summarise_scaleout(
        engine, size, users, followups, options, settings, max_batch_size, workers, one.run, many.run, spread
    )
    print(render_scaleout_table(results))
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


async def run_crowd(
    redis: Redis,
    store: Store,
    settings: WorkerSettings,
    count: int,
    log_dir: Path,
    engine: Blip2Engine,
    crowd: list[StoredConversation],
    followups: int,
    options: GenerationOptions,
) -> tuple[CrowdRun, Affinity]:
    """One timed run on `count` fresh, warmed-up worker processes; the cluster is torn down after."""
    cluster = WorkerCluster(redis, settings, count, log_dir)
    queue_size = max(64, len(crowd) * 2)
    queue = RedisQueue(
        redis, cluster.names, engine, queue_size=queue_size, fetch_results=store.ledger.results
    )
    try:
        await cluster.start()
        await cluster.ready()
        await queue.start()
        crowd_run = await cluster.while_alive(serve_crowd(queue, engine, crowd, followups, options))
    finally:
        await queue.stop()
        await cluster.stop()
    return crowd_run, await affinity(store, crowd_run)


def save_engine(engine: Blip2Engine, directory: Path) -> None:
    """Save the model as built (its tokenizer fix included) so that every worker loads the same weights."""
    engine.model.save_pretrained(directory)
    engine.processor.save_pretrained(directory)
