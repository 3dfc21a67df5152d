"""The one consumer that owns the model: requests wait in a bounded queue and are batched.

The in-process implementation of `inference.queue.InferenceQueue`: callers `submit` (or
`submit_many`) `GenerationRequest`s and get tickets (their place in line, counted in people, and
a future).
A single asyncio task takes waiting requests in arrival order, groups those that share
generation options (up to `max_batch_size`, after waiting `batch_wait_ms` for a burst to
gather; a lone request starts at once) and runs one `generate_batch` in a dedicated thread,
so exactly one generation is on the device at a time and the event loop never blocks (vLLM's
async engine habit). An engine that can prepare requests ahead (`Preparing`) gets each one on
a second thread as it arrives, so photo preprocessing overlaps the generation in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from inference.queue import ModelFacts, WorkerBusy, WorkerStopped
from inference.types import Engine, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

__all__ = ["InferenceWorker", "Job", "Ticket", "WorkerBusy", "WorkerStopped", "collate"]


@dataclass(eq=False)
class Job:
    """A request waiting for the model, with the future its caller awaits."""

    request: GenerationRequest
    future: asyncio.Future[GenerationResult]
    order_key: Hashable | None = None
    enqueued_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None


@dataclass(eq=False)
class Ticket:
    """What `submit` hands back: the place in line at submit time and the answer to await.

    `ahead` counts people (distinct chats) with requests pending or running when it was
    submitted, not their requests: one person's five-request description ahead is one.
    """

    job: Job
    ahead: int
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    async def result(self) -> GenerationResult:
        return await self.job.future

    def cancel(self) -> None:
        self.job.future.cancel()  # the worker drops a cancelled job before its batch

    @property
    def queue_wait_ms(self) -> float:
        """How long the request waited before its batch started (0 until then)."""
        if self.job.started_at is None:
            return 0.0
        return (self.job.started_at - self.job.enqueued_at) * 1000


@runtime_checkable
class Preparing(Protocol):
    """An engine that can do a request's host-side work (photo preprocessing) before its batch."""

    overlaps_preprocessing: bool

    def prepare(self, request: GenerationRequest) -> None: ...


def _count_people(jobs: Iterable[Job], own_key: Hashable | None) -> int:
    """How many people (distinct `order_key`s) the jobs belong to, not counting `own_key`'s.

    A job with no order key is a person of its own. The place in line counts people, so that one
    person's description (a caption and its detail questions) ahead reads as one, not five.
    """
    chats: set[Hashable] = set()
    strangers = 0
    for job in jobs:
        if job.order_key is None:
            strangers += 1
        elif job.order_key != own_key:
            chats.add(job.order_key)
    return len(chats) + strangers


def collate(pending: Sequence[Job], max_batch_size: int) -> list[Job]:
    """Pick the next batch: the oldest job plus later jobs with the same options.

    Pure function (LitServe's `collate_requests` habit), so the batching policy is testable
    without a model. A job whose `order_key` (a chat) already has an earlier job left behind is
    skipped too, so one chat's requests are answered in the order they were sent.
    """
    if not pending:
        return []
    options = pending[0].request.options
    batch: list[Job] = []
    held_back: set[Hashable] = set()
    for job in pending:
        if len(batch) >= max_batch_size:
            break
        key = job.order_key
        if job.request.options == options and (key is None or key not in held_back):
            batch.append(job)
        elif key is not None:
            held_back.add(key)
    return batch


class InferenceWorker:
    """Owns an `Engine`; start it once, submit from anywhere on the loop, stop it at shutdown."""

    def __init__(
        self,
        engine: Engine,
        *,
        queue_size: int = 64,
        max_batch_size: int = 16,
        batch_wait_ms: float = 5.0,
    ) -> None:
        self.engine = engine
        self.queue_size = queue_size
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_ms / 1000
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
        ahead = _count_people([*self._running, *self._pending], order_key)
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
        return _count_people(ahead, ticket.job.order_key)

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Submit and wait: for callers that need no place-in-line updates."""
        return await (await self.submit(request)).result()

    async def _run(self) -> None:
        try:
            while True:
                await self._wait_for_work()
                await self._gather_burst()
                self._drop_cancelled()
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
            if not job.future.done():
                job.future.set_result(result)

    def _prepare(self, request: GenerationRequest) -> None:
        assert self._preparer is not None
        try:
            self._preparer.prepare(request)
        except Exception:  # not the user's answer: generate_batch redoes the work and reports the error
            log.debug("preparing a request failed; its batch will do the work", exc_info=True)

    def _fail_all(self, error: Exception) -> None:
        _fail([*self._running, *self._pending], error)
        self._pending.clear()


def _fail(jobs: list[Job], error: Exception) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(error)
