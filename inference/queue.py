"""The seam between the chat core and the model: what the core may ask of an inference queue.

The core hands over `GenerationRequest`s and awaits their answers through tickets; it never holds
the engine. The in-process `InferenceWorker` implements this Protocol today, and a networked queue
(workers on other machines) implements the same one, so the core does not change between them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol

from inference.types import GenerationRequest, GenerationResult


class WorkerBusy(Exception):
    """The queue is full: the caller should tell the user to try again shortly."""


class WorkerStopped(Exception):
    """The worker is not running (not started, shutting down, or it died)."""


class ModelFacts(Protocol):
    """What the core needs to know about the loaded model to build prompts and record answers."""

    name: str
    can_answer_questions: bool

    def count_tokens(self, text: str) -> int:
        """Tokens the language model would see for `text` (for the prompt budget)."""
        ...

    @property
    def prompt_budget_tokens(self) -> int:
        """How many text tokens a prompt may use before the oldest turns are dropped."""
        ...


class QueueTicket(Protocol):
    """One submitted request: its place in line when submitted, and the answer to await."""

    @property
    def job_id(self) -> str:
        """The request's id, unique across the cluster (the store keeps answers under it)."""
        ...

    @property
    def ahead(self) -> int:
        """People (distinct chats) ahead of this one when it was submitted (0: it starts next).

        Counted in people, not requests: a chat's pending or running requests count once, the
        ticket's own chat not at all.
        """
        ...

    @property
    def queue_wait_ms(self) -> float:
        """How long the request waited before its batch started (0 until then)."""
        ...

    async def result(self) -> GenerationResult:
        """The answer; raises what generating it raised, or `WorkerStopped`."""
        ...

    def cancel(self) -> None:
        """Drop the request if it has not run yet (the caller gave up); harmless once answered."""
        ...


class InferenceQueue(Protocol):
    """Submit one, submit many, place in line, forget a photo: all the core does with the model."""

    @property
    def model(self) -> ModelFacts: ...

    async def submit(self, request: GenerationRequest, *, order_key: Hashable | None = None) -> QueueTicket:
        """Queue one request; raises `WorkerBusy` when full, `WorkerStopped` when not running."""
        ...

    async def submit_many(
        self, requests: Sequence[GenerationRequest], *, order_key: Hashable | None = None
    ) -> list[QueueTicket]:
        """Queue requests that belong together (a description's questions, an album's photos).

        They are queued all at once or not at all, batched together where their options allow,
        and answered in the order given. `order_key` (a chat) keeps one chat's requests in order.
        """
        ...

    def ahead_of(self, ticket: QueueTicket) -> int:
        """People (distinct chats) still ahead of this one now, its own chat not counted (0 once it runs)."""
        ...

    def forget(self, image_keys: list[str]) -> None:
        """Drop what the model keeps in memory about these photos (a person's /forget)."""
        ...

    async def backlog(self) -> int:
        """Requests waiting or being answered now (for health checks and metrics)."""
        ...
