"""Serving batches on one joint decode: new batches join at the next step, finished ones answer at once.

The worker hands `decode_jointly` the batches of a turn and a `more` callable; at every step the
decode asks `more` for batches that arrived meanwhile, prepares each as `generate` would
(`engine.plan`), and adds it to the decode (`joint_decode`). Each batch is answered (`done`) the
step it finishes: a 10-token answer does not wait for the 30-token caption beside it, and a photo
that arrives while others are decoding starts at the next step instead of after them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from inference.beam_cohort import prepare
from inference.joint_decode import JointDecoder
from inference.kv_prefix import BatchLayout
from inference.types import GenerationOptions, GenerationRequest, GenerationResult

#: Batches that arrived while the decode ran: what `more` returns (nothing: none arrived).
More = Callable[[], Sequence[list[GenerationRequest]]]
#: Called with each batch and its answers, in the decode's thread, the step the batch finishes.
Done = Callable[[list[GenerationRequest], list[GenerationResult]], None]


@dataclass(frozen=True, slots=True)
class GenerationPlan:
    """One batch made ready for `generate`: its requests and everything needed to read the output."""

    requests: list[GenerationRequest]
    keys: list[str]
    options: GenerationOptions
    layout: BatchLayout
    kwargs: dict[str, Any]
    started: float


class JoiningEngine(Protocol):
    """What `decode_jointly` needs of an engine (`Blip2Engine` has it)."""

    @property
    def language_model(self) -> Any: ...

    def joins(self, options: GenerationOptions) -> bool: ...

    def plan(self, requests: list[GenerationRequest]) -> GenerationPlan: ...

    def results(self, plan: GenerationPlan, output: Any) -> list[GenerationResult]: ...


def decode_jointly(
    engine: JoiningEngine, batches: Sequence[list[GenerationRequest]], *, more: More, done: Done
) -> None:
    """Decode `batches` and every batch `more` adds, one forward pass per step for all, until none is left.

    Blocking: run it on the worker's thread. Every batch must be one `engine.joins`. An error
    propagates; batches already answered through `done` are not answered again.
    """

    def finish(cohort: Any, output: Any) -> None:
        plan: GenerationPlan = cohort.payload
        done(plan.requests, engine.results(plan, output))

    with torch.inference_mode():
        decoder = JointDecoder(engine.language_model, finish)
        arriving = list(batches)
        while arriving or not decoder.idle:
            for batch in arriving:
                plan = engine.plan(batch)
                decoder.join(prepare(engine.language_model, payload=plan, **plan.kwargs))
            if not decoder.idle:
                decoder.step()
            arriving = list(more())
