"""The one consumer that owns the model: requests wait in a bounded queue and are batched.

The in-process implementation of `inference.queue.InferenceQueue`: callers `submit` (or
`submit_many`) `GenerationRequest`s and get tickets (their place in line, counted in people, and
a future). A single asyncio task takes waiting requests in arrival order (after waiting
`batch_wait_ms` for a burst to gather; a lone request starts at once) and decodes them in a
dedicated thread, so exactly one generation is on the device at a time and the event loop never
blocks (vLLM's async engine habit):

- Beam search on an engine that `joins` it (BLIP-2 with OPT): one joint decode
  (`inference.joint_serving`), one forward pass per step for every batch in it, each batch
  answered the step it finishes. With `join_running`, requests arriving meanwhile join at its
  next step, up to `max_batch_size` requests in flight (vLLM's and `transformers`' continuous
  batching, for beam search): a photo that arrives while others are being described starts at
  once instead of waiting for their whole batch. Without it, each decode is a whole turn: the
  batches waiting when it starts (up to `max_batch_size` requests of each kind), so a
  description's caption and questions still share their steps, and nothing joins until it ends.
- Anything else (greedy, sampling, Flan-T5, BLIP): batches of equal options, up to
  `max_batch_size`, one `generate_batch` each (`collate`).

An engine that can prepare requests ahead (`Preparing`) gets each one on a second thread as it
arrives, so photo preprocessing overlaps the generation in progress.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import itertools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar, runtime_checkable

from inference.jobs import Job, Ticket, collate, count_people
from inference.joining import AnswerOrder, take_joining
from inference.joint_serving import decode_jointly
from inference.queue import ModelFacts, WorkerBusy, WorkerStopped
from inference.types import Engine, GenerationOptions, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)
T = TypeVar("T")
#: How long the joint decode waits for the event loop to hand it the requests that arrived.
JOIN_WAIT_S = 1.0

__all__ = ["InferenceWorker", "Job", "Ticket", "WorkerBusy", "WorkerStopped", "collate"]


@runtime_checkable
class Preparing(Protocol):
    """An engine that can do a request's host-side work (photo preprocessing) before its batch."""

    overlaps_preprocessing: bool

    def prepare(self, request: GenerationRequest) -> None: ...


class InferenceWorker:
    """Owns an `Engine`; start it once, submit from anywhere on the loop, stop it at shutdown."""

    def __init__(
        self,
        engine: Engine,
        *,
        queue_size: int = 64,
        max_batch_size: int = 16,
        batch_wait_ms: float = 5.0,
        join_running: bool = True,
    ) -> None:
        self.engine = engine
        self.queue_size = queue_size
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000
        self.join_running = join_running
        self._pending: deque[Job] = deque()
        self._running: list[Job] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # One thread: the device never sees two generations at once, whatever the loop does.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blipbot-generate")
        self._preparer = engine if isinstance(engine, Preparing) and engine.overlaps_preprocessing else None
        self._prepare_executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="blipbot-prepare")
            if self._preparer
            else None
        )
        self._closing = False
        self._order = AnswerOrder()
        #: How many batches of each size ran (for the HTTP API's metrics).
        self.batch_sizes: Counter[int] = Counter()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="blipbot-inference-worker")

    async def stop(self, *, drain: bool = True) -> None:
        """Stop taking requests; with `drain`, finish the ones already queued first."""
        self._closing = True
        if self._task is None:
            return
        if drain:
            while (self._pending or self._running) and not self._task.done():
                self._wakeup.set()
                await asyncio.sleep(0.01)
        self._task.cancel()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        finally:
            self._fail_all(WorkerStopped("the model worker has stopped"))
            self._executor.shutdown(wait=True)
            if self._prepare_executor is not None:
                self._prepare_executor.shutdown(wait=True, cancel_futures=True)

    @property
    def model(self) -> ModelFacts:
        """The loaded engine, as far as the core needs to know it."""
        return self.engine

    async def submit(self, request: GenerationRequest, *, order_key: Hashable | None = None) -> Ticket:
        """Queue a request; raises `WorkerBusy` when the queue is full."""
        [ticket] = await self.submit_many([request], order_key=order_key)
        return ticket

    async def submit_many(
        self, requests: Sequence[GenerationRequest], *, order_key: Hashable | None = None
    ) -> list[Ticket]:
        """Queue `requests` in one step (all or none), so the next batch can hold them all.

        Nothing awaits in here: no other caller's request can land between them.
        """
        if self._closing or not self.running:
            raise WorkerStopped("the model worker is not running")
        if len(self._pending) + len(requests) > self.queue_size:
            raise WorkerBusy("the queue is full")
        loop = asyncio.get_running_loop()
        ahead = count_people([*self._running, *self._pending], order_key)
        tickets = []
        for request in requests:
            job = Job(request=request, future=loop.create_future(), order_key=order_key)
            self._pending.append(job)
            tickets.append(Ticket(job=job, ahead=ahead))
            if self._prepare_executor is not None:
                self._prepare_executor.submit(self._prepare, request)
        self._wakeup.set()
        return tickets

    def forget(self, image_keys: list[str]) -> None:
        self.engine.forget(image_keys)

    def ahead_of(self, ticket: Ticket) -> int:
        """People (distinct chats) still ahead of this one, running ones included; 0 once it runs.

        The ticket's own chat never counts against it, so its own earlier requests are not "ahead".
        """
        if ticket.job in self._running or ticket.job.future.done():
            return 0
        try:
            position = self._pending.index(ticket.job)
        except ValueError:
            return 0
        ahead = [*self._running, *itertools.islice(self._pending, position)]
        return count_people(ahead, ticket.job.order_key)

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Submit and wait: for callers that need no place-in-line updates."""
        return await (await self.submit(request)).result()

    async def _run(self) -> None:
        try:
            while True:
                await self._wait_for_work()
                await self._gather_burst()
                self._drop_cancelled()
                if not self._pending:  # every waiting request was cancelled
                    continue
                if self._decodes_together(self._pending[0].request.options):
                    await self._execute_jointly()
                    continue
                batch = collate(self._pending, self.max_batch_size)
                if not batch:
                    continue
                for job in batch:
                    self._pending.remove(job)
                await self._execute(batch)
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # the worker died: no waiter may hang
            log.exception("inference worker died")
            self._fail_all(WorkerStopped(f"the model worker died: {type(error).__name__}"))
            raise

    async def _gather_burst(self) -> None:
        """Give a burst `batch_wait_ms` to gather; start a lone request at once.

        A burst shows itself by a second request right behind the first (submitted in the same
        turn of the event loop); a request alone would only pay the wait in latency, and requests
        arriving while a batch generates gather in the queue anyway.
        """
        if not self.batch_wait_s or len(self._pending) >= self.max_batch_size:
            return
        if len(self._pending) == 1:
            await asyncio.sleep(0)  # let callers already scheduled in this turn submit theirs
            if len(self._pending) == 1:
                return
        await asyncio.sleep(self.batch_wait_s)

    async def _wait_for_work(self) -> None:
        while not self._pending:
            self._wakeup.clear()
            await self._wakeup.wait()

    def _drop_cancelled(self) -> None:
        for job in [job for job in self._pending if job.future.done()]:
            self._pending.remove(job)

    async def backlog(self) -> int:
        """Requests waiting or running now."""
        return len(self._pending) + len(self._running)

    async def _execute(self, batch: list[Job]) -> None:
        self._running = batch
        self.batch_sizes[len(batch)] += 1
        started = time.perf_counter()
        for job in batch:
            job.started_at = started
        await self._answer_halving(batch)
        # Left in place on a BaseException, so that `_run` fails these waiters too.
        self._running = []

    async def _answer_halving(self, jobs: list[Job]) -> None:
        """Answer `jobs`; when the batch fails, answer each half on its own, down to one request.

        Out of device memory (`torch.OutOfMemoryError`) a smaller batch usually fits, so halves
        succeed where the whole did not; and one bad request ends up failing only itself, found in
        a few halvings rather than by retrying every request alone.
        """
        try:
            await self._answer(jobs)
        except Exception as error:
            if len(jobs) == 1:
                _fail(jobs, error)
                return
            log.warning("batch of %d failed (%s); answering it in halves", len(jobs), type(error).__name__)
            middle = len(jobs) // 2
            await self._answer_halving(jobs[:middle])
            await self._answer_halving(jobs[middle:])

    async def _answer(self, jobs: list[Job]) -> None:
        """One `generate_batch` in the worker's thread; each job's future gets its result."""
        loop = asyncio.get_running_loop()
        requests = [job.request for job in jobs]
        results = await loop.run_in_executor(self._executor, self.engine.generate_batch, requests)
        for job, result in zip(jobs, results, strict=True):
            _settle(job, result)

    def _decodes_together(self, options: GenerationOptions) -> bool:
        """Whether the engine can decode batches with `options` jointly (`Blip2Engine` with beams)."""
        joins = getattr(self.engine, "joins", None)
        return bool(joins is not None and joins(options))

    def _take_joining(self) -> list[list[Job]]:
        """Waiting jobs that join the decode now (on the loop thread); they count as running.

        Joining running decodes, the room is `max_batch_size` requests in flight; for a whole turn,
        `max_batch_size` requests of each kind.
        """
        self._drop_cancelled()
        if self.join_running:
            room = self.max_batch_size - sum(not job.future.done() for job in self._running)
        else:
            room = self.max_batch_size
        batches = take_joining(self._pending, room, self._decodes_together, per_options=not self.join_running)
        chosen = {id(job) for batch in batches for job in batch}
        self._order.add([job for job in self._pending if id(job) in chosen])  # in the order sent
        started = time.perf_counter()
        for batch in batches:
            self.batch_sizes[len(batch)] += 1
            for job in batch:
                self._pending.remove(job)
                job.started_at = started
            self._running.extend(batch)
        return batches

    async def _execute_jointly(self) -> None:
        """One joint decode (`joint_serving`): with `join_running`, waiting jobs join it at every step.

        Answers go out as each batch finishes, in each chat's order. If the decode fails, the jobs
        it had not answered are answered batch by batch (halving finds a request that fails).
        """
        loop = asyncio.get_running_loop()
        self._order = AnswerOrder()
        jobs: dict[int, Job] = {}

        handoff = threading.Lock()
        abandoned = False

        def taken() -> list[list[GenerationRequest]]:
            with handoff:
                if abandoned:
                    return []
                batches = self._take_joining()
            jobs.update((id(job.request), job) for batch in batches for job in batch)
            return [[job.request for job in batch] for batch in batches]

        def more() -> list[list[GenerationRequest]]:  # on the decode's thread, between steps
            nonlocal abandoned
            if not self.join_running or not self._pending or self._closing:
                return []
            future = asyncio.run_coroutine_threadsafe(_call(taken), loop)
            try:  # bounded: a loop stopping the worker may be waiting for this thread
                return future.result(timeout=JOIN_WAIT_S)
            except concurrent.futures.TimeoutError:
                with handoff:  # from here `taken` takes nothing; what it took already is ours
                    abandoned = True
                return future.result() if future.done() else []

        def done(requests: list[GenerationRequest], results: list[GenerationResult]) -> None:
            loop.call_soon_threadsafe(self._answer_in_order, [jobs[id(r)] for r in requests], results)

        first = taken()
        try:
            await loop.run_in_executor(
                self._executor, functools.partial(decode_jointly, self.engine, first, more=more, done=done)
            )
        except Exception as error:
            held = self._order.held()  # finished, but behind an earlier job of their chat
            waiting = {id(job) for job, _ in held}
            left = [job for job in jobs.values() if not job.future.done() and id(job) not in waiting]
            log.warning(
                "joint decode failed (%s); answering %d requests apart", type(error).__name__, len(left)
            )
            while left:
                batch = collate(left, self.max_batch_size)
                left = [job for job in left if job not in batch]
                await self._answer_halving(batch)
            for job, outcome in held:
                _settle(job, outcome)
        finally:
            await asyncio.sleep(0)  # let the answers posted from the decode's thread go out first
            self._running = []

    def _answer_in_order(self, jobs: list[Job], outcomes: Sequence[GenerationResult | BaseException]) -> None:
        for job, outcome in zip(jobs, outcomes, strict=True):
            for ready, result in self._order.finished(job, outcome):
                _settle(ready, result)

    def _prepare(self, request: GenerationRequest) -> None:
        assert self._preparer is not None
        try:
            self._preparer.prepare(request)
        except Exception:  # not the user's answer: generate_batch redoes the work and reports the error
            log.debug("preparing a request failed; its batch will do the work", exc_info=True)

    def _fail_all(self, error: Exception) -> None:
        _fail([*self._running, *self._pending], error)
        self._pending.clear()


async def _call(function: Callable[[], T]) -> T:
    """`function()` as a coroutine, to run it on the loop from another thread."""
    return function()


def _settle(job: Job, outcome: GenerationResult | BaseException) -> None:
    """Answer `job` (or fail it), unless its caller already gave up (a cancelled future)."""
    if job.future.done():
        return
    if isinstance(outcome, BaseException):
        job.future.set_exception(outcome)
    else:
        job.future.set_result(outcome)


def _fail(jobs: list[Job], error: Exception) -> None:
    for job in jobs:
        _settle(job, error)
