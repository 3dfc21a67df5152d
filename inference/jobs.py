"""The worker's jobs: a request waiting for the model, the ticket its caller holds, and how they batch.

`collate` picks the next batch for plain `generate`; `count_people` gives a ticket its place in
line. Pure functions (LitServe's `collate_requests` habit), testable without a model.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from inference.types import GenerationRequest, GenerationResult


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


def count_people(jobs: Iterable[Job], own_key: Hashable | None) -> int:
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
