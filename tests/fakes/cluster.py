"""A networked queue in one process: front-end queues and `StreamWorker`s over the real Redis.

The workers answer from scripted `FakeEngine`s and share one real store with the front ends,
so tests drive the real Redis Streams protocol without loading a model or starting processes.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from bot.core.options import ServiceOptions
from bot.core.service import ChatService
from inference.redis_queue import RedisQueue
from inference.stream_worker import StreamWorker
from inference.streams import StreamNames
from inference.worker import InferenceWorker
from storage import Store
from tests.fakes import photos
from tests.fakes.engine import FakeEngine


class LocalCluster:
    """Front ends and workers of one deployment; `close` stops them all, workers first."""

    def __init__(self, redis: Redis, names: StreamNames, store: Store) -> None:
        self.redis, self.names, self.store = redis, names, store
        self.queues: list[RedisQueue] = []
        self.workers: list[tuple[StreamWorker, asyncio.Event, asyncio.Task[None]]] = []

    async def queue(self) -> RedisQueue:
        """A started front-end queue (its model facts from a FakeEngine)."""
        queue = RedisQueue(
            self.redis, self.names, FakeEngine(), queue_size=50, fetch_results=self.store.ledger.results
        )
        await queue.start()
        self.queues.append(queue)
        return queue

    async def service(self, options: ServiceOptions) -> ChatService:
        """A front end's core over a new queue, with the ledger for owed replies."""
        queue = await self.queue()
        return ChatService(
            self.store,
            queue,
            options,
            ledger=self.store.ledger,
            frontend_id=queue.frontend_id,
            is_alive=queue.is_alive,
        )

    async def worker(self, engine: FakeEngine, **options: int) -> StreamWorker:
        """A running worker over `engine`; photos are read from the store (any picture will do)."""
        local = InferenceWorker(engine, max_batch_size=8, batch_wait_ms=0)
        await local.start()
        worker = StreamWorker(
            self.redis,
            self.names,
            local,
            load_photo=self.store.ledger.photo_data,
            prepare=lambda data: photos.gradient(),
            save_results=self.store.ledger.save_results,
            **options,
        )
        stop = asyncio.Event()
        self.workers.append((worker, stop, asyncio.create_task(worker.run(stop))))
        return worker

    @property
    def worker_tasks(self) -> list[asyncio.Task[None]]:
        return [task for _, _, task in self.workers]

    async def close(self) -> None:
        for worker, stop, task in self.workers:
            stop.set()
            await asyncio.wait_for(task, 10)
            await worker.worker.stop()
        for queue in self.queues:
            await queue.stop()
