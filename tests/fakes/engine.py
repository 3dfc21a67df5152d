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
from dataclasses import replace

from inference.types import Engine, GenerationRequest, GenerationResult


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
    """Answers from a script (or echoes the prompt's end), records batches, fails on demand."""

    name = "fake-engine"

    def __init__(self, *, can_answer_questions: bool = True, delay_s: float = 0.0, budget_tokens: int = 200):
        self.can_answer_questions = can_answer_questions
        self.delay_s = delay_s
        self.budget_tokens = budget_tokens
        self.batches: list[list[GenerationRequest]] = []
        self.fail_on: set[str] = set()  # prompts containing any of these fail
        self.fail_on_images: set[str] = set()  # requests about these image keys fail
        self._scripted: deque[str] = deque()
        self.meter = OverlapMeter()
        self.forgotten: list[str] = []
        self.mean_logprob = -0.1  # set lower to make the model sound unsure
        #: Batches larger than this raise torch.OutOfMemoryError, as a GPU out of memory does.
        self.memory_for_batch: int | None = None

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
            if self.memory_for_batch is not None and len(requests) > self.memory_for_batch:
                import torch  # only the tests that simulate a GPU running out of memory need it

                raise torch.OutOfMemoryError(f"CUDA out of memory (simulated, batch of {len(requests)})")
            if self.delay_s:
                time.sleep(self.delay_s)
            for request in requests:
                if request.image_key in self.fail_on_images or any(m in request.prompt for m in self.fail_on):
                    raise RuntimeError("scripted failure")
            return [self._answer(request) for request in requests]

    def _answer(self, request: GenerationRequest) -> GenerationResult:
        text = self._scripted.popleft() if self._scripted else f"answer to {request.prompt[-40:]!r}"
        return GenerationResult(
            text=text, new_tokens=len(text.split()), mean_logprob=self.mean_logprob, generation_ms=1.0
        )


class RecordingEngine:
    """A real engine (the tiny random model) behind a recorder, for tests that run the real thing.

    Random weights say random words, so tests assert prompts, batches and structure: it records
    every batch, `script()` sets the text of the next answers when a test needs known words,
    `delay_s` slows each batch, `hold()`/`release()` keep generation waiting at a gate (queue and
    shutdown tests), and `meter` counts how many generations overlap.
    """

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.can_answer_questions = inner.can_answer_questions
        self.delay_s = 0.0
        self.batches: list[list[GenerationRequest]] = []
        self.meter = OverlapMeter()
        self.entered = threading.Event()  # set when a batch reaches the engine
        self._scripted: deque[str] = deque()
        self._gate = threading.Event()
        self._gate.set()
        self._lock = threading.Lock()

    def script(self, *answers: str) -> None:
        self._scripted.extend(answers)

    def hold(self) -> None:
        self.entered.clear()
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    @property
    def requests(self) -> list[GenerationRequest]:
        with self._lock:
            return [request for batch in self.batches for request in batch]

    @property
    def prompts(self) -> list[str]:
        return [request.prompt for request in self.requests]

    def forget(self, image_keys: list[str]) -> None:
        self.inner.forget(image_keys)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    @property
    def prompt_budget_tokens(self) -> int:
        return self.inner.prompt_budget_tokens

    def generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        with self.meter.running():
            with self._lock:
                self.batches.append(list(requests))
            self.entered.set()
            self._gate.wait(timeout=30)
            if self.delay_s:
                time.sleep(self.delay_s)
            results = self.inner.generate_batch(requests)
        with self._lock:  # scripted words carry no model doubt: they are never hedged
            return [
                replace(r, text=self._scripted.popleft(), mean_logprob=None) if self._scripted else r
                for r in results
            ]
