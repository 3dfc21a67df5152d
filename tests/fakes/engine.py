"""A scriptable stand-in for a loaded model (simonw/llm's MockModel habit).

It answers from a queue of scripted texts (or echoes the prompt's last question), records every
batch it was given, can be told to fail on a prompt, and measures how many generations overlap,
so worker and service tests can assert the plumbing without a real model.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator

from inference.types import GenerationRequest, GenerationResult


class OverlapMeter:
    """Counts how many generations run at once; the worker promises never more than one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self.max_concurrent = 0

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1


class FakeEngine:
    name = "fake-engine"

    def __init__(self, *, can_answer_questions: bool = True, delay_s: float = 0.0, budget_tokens: int = 200):
        self.can_answer_questions = can_answer_questions
        self.delay_s = delay_s
        self.budget_tokens = budget_tokens
        self.batches: list[list[GenerationRequest]] = []
        self.fail_on: set[str] = set()
        self._scripted: deque[str] = deque()
        self.meter = OverlapMeter()
        self.forgotten: list[str] = []
        self.mean_logprob = -0.1  # set lower to make the model sound unsure

    def forget(self, image_keys: list[str]) -> None:
        self.forgotten.extend(image_keys)

    def enqueue(self, *answers: str) -> None:
        self._scripted.extend(answers)

    @property
    def requests(self) -> list[GenerationRequest]:
        return [request for batch in self.batches for request in batch]

    @property
    def prompts(self) -> list[str]:
        return [request.prompt for request in self.requests]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    @property
    def prompt_budget_tokens(self) -> int:
        return self.budget_tokens

    @property
    def max_concurrent(self) -> int:
        return self.meter.max_concurrent

    def generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        with self.meter.running():
            self.batches.append(list(requests))
            if self.delay_s:
                time.sleep(self.delay_s)
            for request in requests:
                if any(marker in request.prompt for marker in self.fail_on):
                    raise RuntimeError("scripted failure")
            return [self._answer(request) for request in requests]

    def _answer(self, request: GenerationRequest) -> GenerationResult:
        text = self._scripted.popleft() if self._scripted else f"answer to {request.prompt[-40:]!r}"
        return GenerationResult(
            text=text, new_tokens=len(text.split()), mean_logprob=self.mean_logprob, generation_ms=1.0
        )
