"""The front end's side of the networked queue: jobs out over Redis Streams, answers back.

`RedisQueue` implements `inference.queue.InferenceQueue`, so the core does not know it is not
the in-process worker. A job goes to the stream of the worker that already holds its photo's
features while that worker lives (follow-ups stay fast), else to the shared stream any worker
reads. Answers come back on this front end's results stream; an answer the stream lost (Redis
restarted) is found in the store, where workers write every answer before they acknowledge it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from inference.queue import ModelFacts, WorkerBusy, WorkerStopped
from inference.streams import (
    HEARTBEAT_EVERY_S,
    HEARTBEAT_TTL_S,
    RECONNECT_BACKOFF_S,
    STREAM_MAXLEN,
    StreamJob,
    StreamNames,
    as_text,
    decode_result,
    raise_if_cancelled,
)
from inference.types import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

#: Looks up answers in the store by job id (payloads as `inference.streams.encode_result` wrote them).
FetchResults = Callable[[list[str]], Awaitable[dict[str, str]]]
#: A ticket still unanswered after this long is looked up in the store (its notice may be lost).
STORE_CHECK_AFTER_S = 2.0
#: Every this many heartbeats the line is swept of the people of front ends that died.
SWEEP_EVERY_BEATS = 10


class JobFailed(Exception):
    """A worker could not answer the job (or dead-lettered it); the person gets an apology."""


@dataclass(eq=False)
class RedisTicket:
    """One job on its way: the people ahead when it was queued, and the answer to await."""

    job_id: str
    ahead: int
    waiting_member: str
    future: asyncio.Future[GenerationResult]
    queued_at: float = field(default_factory=time.monotonic)
    queue_wait_ms: float = 0.0

    async def result(self) -> GenerationResult:
        return await self.future

    def cancel(self) -> None:
        self.future.cancel()


class RedisQueue:
    """Submits jobs to Redis Streams and resolves their tickets from this front end's results stream."""

    def __init__(
        self,
        redis: Redis,
        names: StreamNames,
        model: ModelFacts,
        *,
        queue_size: int,
        fetch_results: FetchResults | None = None,
        frontend_id: str | None = None,
    ) -> None:
        self.redis = redis
        self.names = names
        self._model = model
        self.queue_size = queue_size
        self.fetch_results = fetch_results
        self.frontend_id = frontend_id or uuid.uuid4().hex[:12]
        self._tickets: dict[str, RedisTicket] = {}
        self._per_member: Counter[str] = Counter()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @property
    def model(self) -> ModelFacts:
        return self._model

    async def start(self) -> None:
        """Start listening for answers; fails (RedisError) when Redis cannot be reached at all."""
        await self.redis.ping()
        await self._beat()
        self._tasks = [
            asyncio.create_task(self._listen(), name="blipbot-results"),
            asyncio.create_task(self._heartbeat(), name="blipbot-frontend-heartbeat"),
            asyncio.create_task(self._check_store(), name="blipbot-results-check"),
        ]

    async def stop(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks, timeout=5)
        for ticket in list(self._tickets.values()):
            if not ticket.future.done():
                ticket.future.set_exception(WorkerStopped("the front end is stopping"))
        with contextlib.suppress(RedisError):
            await self.redis.delete(self.names.frontend_alive(self.frontend_id))
            if self._per_member:
                await self.redis.zrem(self.names.waiting, *self._per_member)

    async def submit(self, request: GenerationRequest, *, order_key: Hashable | None = None) -> RedisTicket:
        [ticket] = await self.submit_many([request], order_key=order_key)
        return ticket

    async def submit_many(
        self, requests: Sequence[GenerationRequest], *, order_key: Hashable | None = None
    ) -> list[RedisTicket]:
        """Queue the jobs in one transaction (all or none); `WorkerBusy` when Redis is down or full."""
        if self._closing:
            raise WorkerStopped("the front end is stopping")
        if any(request.photo_ref is None for request in requests):
            raise ValueError("a networked queue needs each photo's stored id (photo_ref)")
        member = f"{self.frontend_id}:{order_key if order_key is not None else uuid.uuid4().hex}"
        jobs = [
            StreamJob(
                job_id=uuid.uuid4().hex,
                frontend=self.frontend_id,
                photo_ref=request.photo_ref or 0,
                image_key=request.image_key,
                prompt=request.prompt,
                options=request.options,
                order_key=member,
            )
            for request in requests
        ]
        try:
            if await self.backlog() + len(jobs) > self.queue_size:
                raise WorkerBusy("the queue is full")
            streams = await self._streams_for([job.image_key for job in jobs])
            async with self.redis.pipeline(transaction=True) as pipe:
                for job, stream in zip(jobs, streams, strict=True):
                    pipe.xadd(stream, job.fields(), maxlen=STREAM_MAXLEN, approximate=True)
                pipe.zadd(self.names.waiting, {member: time.time()}, nx=True)
                pipe.zrank(self.names.waiting, member)
                *_, rank = await pipe.execute()
        except RedisError as error:
            log.warning("queue unreachable (%s); telling the person to try again", type(error).__name__)
            raise WorkerBusy("the queue cannot be reached") from None
        loop = asyncio.get_running_loop()
        tickets = []
        for job in jobs:
            ticket = RedisTicket(job.job_id, int(rank or 0), member, loop.create_future())
            ticket.future.add_done_callback(lambda _, t=ticket: self._settled(t))
            self._tickets[job.job_id] = ticket
            self._per_member[member] += 1
            tickets.append(ticket)
        return tickets

    def ahead_of(self, ticket: RedisTicket) -> int:
        """People ahead when the ticket was queued (a live count would cost a round trip)."""
        return 0 if ticket.future.done() else ticket.ahead

    def forget(self, image_keys: list[str]) -> None:
        """Tell every worker to drop these photos' cached state (best effort, in the background)."""
        if image_keys:
            task = asyncio.get_running_loop().create_task(self._broadcast_forget(image_keys))
            task.add_done_callback(_log_failure)

    async def is_alive(self, frontend_id: str) -> bool:
        """Whether that front end still beats (a dead one's owed replies are taken over)."""
        return bool(await self.redis.exists(self.names.frontend_alive(frontend_id)))

    async def backlog(self) -> int:
        """Jobs queued or being answered across the cluster (the shared and every worker stream)."""
        total = 0
        for stream in [self.names.jobs, *[self.names.worker_jobs(w) for w in await self._known_workers()]]:
            with contextlib.suppress(RedisError):  # a stream nobody created yet holds nothing
                for group in await self.redis.xinfo_groups(stream):
                    total += int(group.get("lag") or 0) + int(group.get("pending") or 0)
        return total

    # -- answers ------------------------------------------------------------------------------

    def answer(self, job_id: str, payload: str) -> None:
        """Resolve a ticket from a result payload (from the stream or the store); repeats are ignored."""
        ticket = self._tickets.get(job_id)
        if ticket is None or ticket.future.done():
            return
        outcome = decode_result(payload)
        if isinstance(outcome, str):
            ticket.future.set_exception(JobFailed(outcome))
        else:
            waited_ms = (time.monotonic() - ticket.queued_at) * 1000
            ticket.queue_wait_ms = max(0.0, waited_ms - outcome.generation_ms)
            ticket.future.set_result(outcome)

    async def _listen(self) -> None:
        # The stream is this front end's own (a fresh id each start): read it from its beginning,
        # so an answer that lands before the first XREAD is not skipped as "$" would skip it.
        stream, last_id, failures = self.names.results(self.frontend_id), "0-0", 0
        while True:
            raise_if_cancelled()  # redis-py may swallow a cancellation in a blocking read
            try:
                found = await self.redis.xread({stream: last_id}, block=1000, count=100)
                failures = 0
            except RedisError as error:
                raise_if_cancelled()
                delay = RECONNECT_BACKOFF_S[min(failures, len(RECONNECT_BACKOFF_S) - 1)]
                if failures == 0:
                    log.warning("lost the queue (%s); reconnecting", type(error).__name__)
                failures += 1
                await asyncio.sleep(delay)
                continue
            for _stream, entries in found or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    text = {as_text(k): as_text(v) for k, v in fields.items()}
                    if "job" in text and "result" in text:
                        self.answer(text["job"], text["result"])

    async def _check_store(self) -> None:
        """Answers whose notice was lost (Redis restarted, say) are read from the store."""
        while True:
            await asyncio.sleep(STORE_CHECK_AFTER_S / 2)
            if self.fetch_results is None:
                continue
            now = time.monotonic()
            overdue = [
                job_id
                for job_id, t in self._tickets.items()
                if not t.future.done() and now - t.queued_at > STORE_CHECK_AFTER_S
            ]
            if not overdue:
                continue
            try:
                found = await self.fetch_results(overdue)
            except Exception as error:  # the store down too: try again on the next round
                log.warning("could not look up answers in the store (%s)", type(error).__name__)
                continue
            for job_id, payload in found.items():
                self.answer(job_id, payload)

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            try:
                await self._beat()
                beats += 1
                if beats % SWEEP_EVERY_BEATS == 0:
                    await self.sweep_line()
            except RedisError:
                raise_if_cancelled()

    async def sweep_line(self) -> int:
        """Take the people of front ends that died out of the line, so nobody waits behind them."""
        members = [as_text(m) for m in await self.redis.zrange(self.names.waiting, 0, -1)]
        dead: dict[str, bool] = {}
        gone = []
        for member in members:
            frontend = member.split(":", 1)[0]
            if frontend not in dead:
                dead[frontend] = frontend != self.frontend_id and not await self.is_alive(frontend)
            if dead[frontend]:
                gone.append(member)
        if gone:
            await self.redis.zrem(self.names.waiting, *gone)
        return len(gone)

    async def _beat(self) -> None:
        await self.redis.set(self.names.frontend_alive(self.frontend_id), "1", ex=HEARTBEAT_TTL_S)

    def _settled(self, ticket: RedisTicket) -> None:
        """Forget a finished (or abandoned) ticket; its person leaves the line with their last one."""
        self._tickets.pop(ticket.job_id, None)
        self._per_member[ticket.waiting_member] -= 1
        if self._per_member[ticket.waiting_member] <= 0:
            del self._per_member[ticket.waiting_member]
            task = asyncio.get_running_loop().create_task(self._leave_line(ticket.waiting_member))
            task.add_done_callback(_log_failure)

    async def _leave_line(self, member: str) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.zrem(self.names.waiting, member)

    async def _streams_for(self, image_keys: list[str]) -> list[str]:
        """Each job's stream: its photo's worker while that worker lives, else the shared one."""
        holders = await self.redis.hmget(self.names.affinity, image_keys)
        alive: dict[str, bool] = {}
        streams = []
        for holder in holders:
            worker = as_text(holder) if holder is not None else None
            if worker is not None and worker not in alive:
                alive[worker] = bool(await self.redis.exists(self.names.worker_alive(worker)))
            streams.append(self.names.worker_jobs(worker) if worker and alive[worker] else self.names.jobs)
        return streams

    async def _known_workers(self) -> list[str]:
        return sorted(as_text(w) for w in await self.redis.smembers(self.names.workers))

    async def _broadcast_forget(self, image_keys: list[str]) -> None:
        await self.redis.hdel(self.names.affinity, *image_keys)
        await self.redis.publish(self.names.control, "forget " + " ".join(image_keys))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("queue housekeeping failed: %s", type(task.exception()).__name__)
