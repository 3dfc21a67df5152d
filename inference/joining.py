"""The worker's rules for a joint decode: which waiting jobs join it, and in what order answers go out.

Pure functions and a small ledger, like `collate`, so the policy is testable without a model.
Jobs join in arrival order while the decode has room; a chat's job joins only after its earlier
jobs have, and its answers go out in the order it sent them even when a later one (a 10-token
question) finishes before an earlier one (its 30-token caption).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, Protocol

from inference.types import GenerationOptions, GenerationRequest, GenerationResult


def resolve_join_running(setting: bool | str, device_type: str | None) -> bool:
    """`inference.join_running`: true or false as set; "auto" joins on a GPU only.

    On a GPU a decode step reads every weight whatever the rows, so rows that join cost little;
    on the CPU each row costs its share of the arithmetic, and whole turns serve more photos a
    second and keep the p95 lower at 70% load (measured: README, Speed).
    """
    return setting if isinstance(setting, bool) else device_type == "cuda"


class Queued(Protocol):
    """What these rules read of a worker's job."""

    request: GenerationRequest
    order_key: Hashable | None


def take_joining(
    pending: Iterable[Queued],
    room: int,
    joins: Callable[[GenerationOptions], bool],
    *,
    per_options: bool = False,
) -> list[list[Any]]:
    """The waiting jobs that join now, as batches of equal options, at most `room` jobs in all.

    With `per_options`, `room` is each batch's own limit instead (a whole turn: every kind of
    request waiting, each batch at most `max_batch_size`). Taken in arrival order. The first job
    whose options cannot join (greedy, sampled) stops the taking, so it is not passed over for
    ever while the decode runs: it goes once the decode drains. A chat's job left behind holds back
    that chat's later jobs.
    """
    batches: dict[GenerationOptions, list[Any]] = {}
    held_back: set[Hashable] = set()
    taken = 0
    for job in pending:
        key = job.order_key
        options = job.request.options
        if not joins(options):
            break
        full = len(batches.get(options, ())) >= room if per_options else taken >= room
        if not full and (key is None or key not in held_back):
            batches.setdefault(options, []).append(job)
            taken += 1
        elif key is not None:
            held_back.add(key)
    return list(batches.values())


class AnswerOrder:
    """Answers finished out of order held until each chat's earlier ones are out.

    `add` jobs as they join (in arrival order); `finished(job, outcome)` returns the jobs that
    may be answered now, each with its outcome, in order.
    """

    def __init__(self) -> None:
        self._lines: dict[Hashable, deque[Any]] = {}
        self._outcomes: dict[int, GenerationResult | BaseException] = {}

    def add(self, jobs: Sequence[Queued]) -> None:
        for job in jobs:
            if job.order_key is not None:
                self._lines.setdefault(job.order_key, deque()).append(job)

    def finished(self, job: Queued, outcome: GenerationResult | BaseException) -> list[tuple[Any, Any]]:
        key = job.order_key
        if key is None:
            return [(job, outcome)]
        self._outcomes[id(job)] = outcome
        line = self._lines[key]
        ready = []
        while line and id(line[0]) in self._outcomes:
            first = line.popleft()
            ready.append((first, self._outcomes.pop(id(first))))
        if not line:
            del self._lines[key]
        return ready

    def held(self) -> list[tuple[Any, Any]]:
        """Jobs finished but held behind an earlier one, with their outcomes (emptied)."""
        held = [
            (job, self._outcomes.pop(id(job)))
            for line in self._lines.values()
            for job in line
            if id(job) in self._outcomes
        ]
        self._lines.clear()
        return held
