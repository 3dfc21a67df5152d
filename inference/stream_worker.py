"""`blipbot worker`: reads jobs from Redis Streams in batches, answers them, stores, acknowledges.

A consumer group spreads jobs over the workers; each worker also reads its own stream (jobs
about photos whose features it holds) and the streams of workers that died. The batching is the
in-process worker's own (`InferenceWorker`): same options share a batch, a chat's jobs keep
their order. A job is acknowledged only after its answer is in the store; the jobs of a worker
that died are claimed by another after `claim_idle_ms`; a job delivered `max_deliveries` times
goes to the dead-letter stream and its person is told. SIGTERM: finish the batch, then exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from inference.streams import (
    DEAD,
    HEARTBEAT_EVERY_S,
    HEARTBEAT_TTL_S,
    PHOTO_GONE,
    RECONNECT_BACKOFF_S,
    STREAM_MAXLEN,
    StreamJob,
    StreamNames,
    as_text,
    encode_result,
    raise_if_cancelled,
)
from inference.types import GenerationRequest
from inference.worker import InferenceWorker

log = logging.getLogger(__name__)

LoadPhoto = Callable[[int], Awaitable[bytes | None]]
SaveResults = Callable[[dict[str, str]], Awaitable[None]]
READ_BLOCK_MS = 500
#: After the first jobs of a burst, how long a worker lets the rest of it arrive before its batch.
BURST_GATHER_S = 0.02


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stream entry handed to this worker, and how many times it has been handed out."""

    stream: str
    entry_id: str
    fields: dict[Any, Any]
    times_delivered: int = 1


class StreamWorker:
    """One GPU worker process: the Redis loop around an `InferenceWorker`."""

    def __init__(
        self,
        redis: Redis,
        names: StreamNames,
        worker: InferenceWorker,
        *,
        load_photo: LoadPhoto,
        prepare: Callable[[bytes], Image.Image],
        save_results: SaveResults,
        claim_idle_ms: int = 60_000,
        max_deliveries: int = 3,
        worker_id: str | None = None,
    ) -> None:
        self.redis = redis
        self.names = names
        self.worker = worker
        self.load_photo = load_photo
        self.prepare = prepare
        self.save_results = save_results
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self.batches = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Answer jobs until `stop` is set; the batch in hand is finished and acknowledged first."""
        side = [
            asyncio.create_task(self._heartbeat(), name="blipbot-worker-heartbeat"),
            asyncio.create_task(self._follow_control(), name="blipbot-worker-control"),
        ]
        failures = 0
        try:
            while not stop.is_set():
                try:
                    await self._register()
                    deliveries = await self._next(stop)
                    failures = 0
                except RedisError as error:
                    raise_if_cancelled()
                    if failures == 0:
                        log.warning("lost the queue (%s); reconnecting", type(error).__name__)
                    backoff = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
                    await _sleep_or_stop(stop, backoff)
                    failures += 1
                    continue
                if not deliveries:
                    continue
                try:
                    await self._answer(deliveries)
                except (RedisError, OSError) as error:
                    # Unacknowledged: the jobs come back after claim_idle_ms, here or elsewhere.
                    log.warning("could not finish a batch (%s); retried later", type(error).__name__)
                    await _sleep_or_stop(stop, RECONNECT_BACKOFF_S[-1])
                except Exception as error:  # the store refused the answers (unreachable, say)
                    log.warning("could not store a batch's answers (%s); retried later", type(error).__name__)
                    await _sleep_or_stop(stop, RECONNECT_BACKOFF_S[-1])
        finally:
            for task in side:
                task.cancel()
            await asyncio.wait(side, timeout=5)
            with contextlib.suppress(RedisError):
                await self.redis.delete(self.names.worker_alive(self.worker_id))

    # -- reading ------------------------------------------------------------------------------

    async def _register(self) -> None:
        """Make sure the groups exist (idempotent) and that others know this worker's stream."""
        for stream in (self.names.jobs, self.names.worker_jobs(self.worker_id)):
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
                await self.redis.xgroup_create(stream, self.names.group, id="0", mkstream=True)
        await self.redis.sadd(self.names.workers, self.worker_id)
        await self.redis.set(self.names.worker_alive(self.worker_id), "1", ex=HEARTBEAT_TTL_S)

    async def _next(self, stop: asyncio.Event) -> list[Delivery]:
        """Up to a batch of jobs: abandoned ones first, then this worker's own and the shared ones.

        Its own stream (follow-ups about photos it holds) and the shared one are read in one
        blocking call, so neither waits for the other. From the shared stream a worker takes only
        its share of a burst, so that a burst is spread over the live workers, not taken by one.
        """
        count = self.worker.max_batch_size
        deliveries = await self._claim(count)
        if deliveries:
            return deliveries
        for stream in await self._orphaned_streams():
            found = await self.redis.xreadgroup(self.names.group, self.worker_id, {stream: ">"}, count=count)
            if found:
                return _deliveries(found)
        streams = {self.names.worker_jobs(self.worker_id): ">", self.names.jobs: ">"}
        found = _deliveries(
            await self.redis.xreadgroup(
                self.names.group, self.worker_id, streams, count=1, block=READ_BLOCK_MS
            )
        )
        if not found:
            return []
        # The first job of a burst: let the rest land, then take this worker's share of it (the
        # share counted now, not before the wait, so a worker that just joined gets its part).
        await asyncio.sleep(BURST_GATHER_S)
        share = max(1, math.ceil(count / await self._live_workers()))
        if share > len(found):
            more = await self.redis.xreadgroup(
                self.names.group, self.worker_id, streams, count=share - len(found)
            )
            found += _deliveries(more)
        return found

    async def _live_workers(self) -> int:
        alive = [await self.redis.exists(self.names.worker_alive(w)) for w in await self._known_workers()]
        return max(1, sum(1 for a in alive if a))

    async def _claim(self, count: int) -> list[Delivery]:
        """Jobs another worker took but has not acknowledged for `claim_idle_ms` (it likely died)."""
        streams = [self.names.jobs, *[self.names.worker_jobs(w) for w in await self._known_workers()]]
        for stream in streams:
            try:
                _next, claimed, *_ = await self.redis.xautoclaim(
                    stream, self.names.group, self.worker_id, self.claim_idle_ms, count=count
                )
            except ResponseError:  # no such stream or group yet
                continue
            if claimed:
                return [
                    Delivery(stream, as_text(entry_id), fields, await self._times_delivered(stream, entry_id))
                    for entry_id, fields in claimed
                ]
        return []

    async def _times_delivered(self, stream: str, entry_id: Any) -> int:
        pending = await self.redis.xpending_range(
            stream, self.names.group, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _orphaned_streams(self) -> list[str]:
        """The own streams of workers that died: their undelivered jobs need a new home."""
        orphaned = []
        for worker in await self._known_workers():
            if worker != self.worker_id and not await self.redis.exists(self.names.worker_alive(worker)):
                orphaned.append(self.names.worker_jobs(worker))
        return orphaned

    async def _known_workers(self) -> list[str]:
        return sorted(as_text(w) for w in await self.redis.smembers(self.names.workers))

    # -- answering ----------------------------------------------------------------------------

    async def _answer(self, deliveries: list[Delivery]) -> None:
        """Generate, store every answer, then acknowledge and tell each job's front end."""
        payloads: dict[str, str] = {}
        jobs: dict[str, StreamJob] = {}
        to_run: list[tuple[StreamJob, GenerationRequest]] = []
        dead: list[Delivery] = []
        for delivery in deliveries:
            try:
                job = StreamJob.parse(delivery.fields)
            except (KeyError, ValueError, TypeError):
                log.error("dropping a malformed job %s from %s", delivery.entry_id, delivery.stream)
                dead.append(delivery)
                continue
            jobs[delivery.entry_id] = job
            if delivery.times_delivered > self.max_deliveries:
                log.error("job %s failed %d times; dead-lettered", job.job_id, delivery.times_delivered - 1)
                payloads[job.job_id] = encode_result(None, error=DEAD, worker=self.worker_id)
                dead.append(delivery)
                continue
            request = await self._request(job)
            if request is None:
                payloads[job.job_id] = encode_result(None, error=PHOTO_GONE, worker=self.worker_id)
            else:
                to_run.append((job, request))
        answered, failed = await self._generate(to_run, payloads)
        if payloads:
            await self.save_results(payloads)  # stored before acknowledged: nothing is lost
        done = [d for d in deliveries if d.entry_id not in jobs or jobs[d.entry_id].job_id not in failed]
        await self._acknowledge(done, dead, jobs, payloads, answered)
        self.batches += 1

    async def _request(self, job: StreamJob) -> GenerationRequest | None:
        data = await self.load_photo(job.photo_ref)
        if data is None:  # forgotten or purged meanwhile
            return None
        try:
            image = await asyncio.to_thread(self.prepare, data)
        except Exception:
            log.exception("stored photo %d could not be prepared", job.photo_ref)
            return None
        return GenerationRequest(image, job.image_key, job.prompt, job.options, photo_ref=job.photo_ref)

    async def _generate(
        self, to_run: list[tuple[StreamJob, GenerationRequest]], payloads: dict[str, str]
    ) -> tuple[set[str], set[str]]:
        """Answer through the in-process worker's batching: the ids answered, and those that failed."""
        tickets = [await self.worker.submit(request, order_key=job.order_key) for job, request in to_run]
        results = await asyncio.gather(*(t.result() for t in tickets), return_exceptions=True)
        answered: set[str] = set()
        failed: set[str] = set()
        for (job, _), result in zip(to_run, results, strict=True):
            if isinstance(result, BaseException):
                # Left pending: it is retried after claim_idle_ms, and dead-lettered in the end.
                log.warning("job %s failed (%s); it will be retried", job.job_id, type(result).__name__)
                failed.add(job.job_id)
            else:
                payloads[job.job_id] = encode_result(result, worker=self.worker_id)
                answered.add(job.job_id)
        return answered, failed

    async def _acknowledge(
        self,
        done: list[Delivery],
        dead: list[Delivery],
        jobs: dict[str, StreamJob],
        payloads: dict[str, str],
        answered: set[str],
    ) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for delivery in dead:
                pipe.xadd(self.names.dead, {**delivery.fields, "from": delivery.stream}, maxlen=STREAM_MAXLEN)
            for delivery in done:
                pipe.xack(delivery.stream, self.names.group, delivery.entry_id)
                job = jobs.get(delivery.entry_id)
                if job is None or job.job_id not in payloads:
                    continue
                pipe.xadd(
                    self.names.results(job.frontend),
                    {"job": job.job_id, "result": payloads[job.job_id]},
                    maxlen=STREAM_MAXLEN,
                    approximate=True,
                )
                if job.job_id in answered:  # this worker now holds the photo's features
                    pipe.hset(self.names.affinity, job.image_key, self.worker_id)
            await pipe.execute()

    # -- around the loop ----------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            try:
                await self.redis.set(self.names.worker_alive(self.worker_id), "1", ex=HEARTBEAT_TTL_S)
            except RedisError:
                raise_if_cancelled()

    async def _follow_control(self) -> None:
        """`forget KEY...` from any front end: drop those photos' cached state here too."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.names.control)
                    async for message in pubsub.listen():
                        raise_if_cancelled()
                        if message.get("type") != "message":
                            continue
                        command, *keys = as_text(message["data"]).split()
                        if command == "forget" and keys:
                            self.worker.forget(keys)
            except RedisError:
                raise_if_cancelled()
                await asyncio.sleep(1.0)


def _deliveries(found: Any) -> list[Delivery]:
    return [
        Delivery(as_text(stream), as_text(entry_id), fields)
        for stream, entries in found or []
        for entry_id, fields in entries
        if fields  # an entry trimmed away while pending comes back empty
    ]


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
