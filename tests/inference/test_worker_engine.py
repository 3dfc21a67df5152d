"""The worker over the real tiny engine: batching changes neither answers nor their order."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable
from typing import Any

from PIL import Image

from inference.blip2 import Blip2Engine
from inference.types import GenerationOptions, GenerationRequest, GenerationResult
from inference.worker import InferenceWorker
from tests.fakes.engine import OverlapMeter

Photo = Callable[..., Image.Image]
GREEDY = GenerationOptions(num_beams=1, max_new_tokens=4, min_new_tokens=4)
BEAMS = GenerationOptions(num_beams=2, max_new_tokens=4, min_new_tokens=4)
PROMPTS = [
    "",
    "Question: what is it? Answer:",
    "Question: is there a dog on the grass near the house? Answer:",
]


class WatchedEngine:
    """Delegates to a real engine and records the batches and how many ran at once."""

    def __init__(self, engine: Blip2Engine) -> None:
        self.engine = engine
        self.name = engine.name
        self.can_answer_questions = True
        self.batches: list[list[GenerationRequest]] = []
        self.meter = OverlapMeter()

    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)

    @property
    def prompt_budget_tokens(self) -> int:
        return self.engine.prompt_budget_tokens

    def generate_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        with self.meter.running():
            self.batches.append(list(requests))
            return self.engine.generate_batch(requests)


def request(photo: Image.Image, prompt: str, options: GenerationOptions = GREEDY) -> GenerationRequest:
    return GenerationRequest(photo, hashlib.sha256(photo.tobytes()).hexdigest(), prompt, options)


async def test_200_concurrent_requests_are_answered_once_each_in_order_as_if_alone(
    tiny: tuple[Any, Any], make_photo: Photo
) -> None:
    model, processor = tiny
    watched = WatchedEngine(Blip2Engine(model, processor, "cpu", "tiny", embedding_cache_mb=16))
    worker = InferenceWorker(watched, queue_size=500, max_batch_size=16, batch_wait_ms=2)
    photos = [make_photo(n) for n in range(4)]
    jobs = [
        (f"chat{n % 10}", request(photos[n % 4], PROMPTS[n % 3], BEAMS if n % 7 == 0 else GREEDY))
        for n in range(200)
    ]

    submitted: dict[str, list[int]] = {}

    async def ask(n: int) -> GenerationResult:
        await asyncio.sleep(random.random() * 0.02)
        chat, job = jobs[n]
        submitted.setdefault(chat, []).append(n)
        return await (await worker.submit(job, order_key=chat)).result()

    await worker.start()
    try:
        answers = await asyncio.gather(*(ask(n) for n in range(200)))
    finally:
        await worker.stop()

    seen = [id(r) for batch in watched.batches for r in batch]
    assert sorted(seen) == sorted(id(job) for _, job in jobs), "every request generated exactly once"
    assert watched.meter.max_concurrent == 1
    assert 1 < max(len(batch) for batch in watched.batches) <= 16
    number = {id(job): n for n, (_, job) in enumerate(jobs)}
    generated = [number[id(r)] for batch in watched.batches for r in batch]
    for chat, in_order in submitted.items():
        assert [n for n in generated if jobs[n][0] == chat] == in_order, f"{chat} answered out of order"
    alone = Blip2Engine(model, processor, "cpu", "tiny", embedding_cache_mb=0, kv_cache_tokens=0)
    expected = {}
    for _, job in jobs:
        key = (job.image_key, job.prompt, job.options)
        if key not in expected:
            expected[key] = alone.generate_batch([job])[0].text
    assert [a.text for a in answers] == [expected[(j.image_key, j.prompt, j.options)] for _, j in jobs]


async def test_a_bad_request_in_a_real_batch_fails_only_itself(
    tiny: tuple[Any, Any], make_photo: Photo
) -> None:
    model, processor = tiny
    engine = Blip2Engine(model, processor, "cpu", "tiny", embedding_cache_mb=16)
    worker = InferenceWorker(engine, queue_size=10, max_batch_size=8, batch_wait_ms=20)
    good = [request(make_photo(n), PROMPTS[1]) for n in range(3)]
    broken = GenerationRequest(image=None, image_key="not-a-photo", prompt=PROMPTS[1], options=GREEDY)  # type: ignore[arg-type]
    await worker.start()
    try:
        tickets = [await worker.submit(r) for r in (good[0], broken, good[1], good[2])]
        results = await asyncio.gather(*(t.result() for t in tickets), return_exceptions=True)
    finally:
        await worker.stop()

    assert isinstance(results[1], Exception)
    alone = Blip2Engine(model, processor, "cpu", "tiny", embedding_cache_mb=0, kv_cache_tokens=0)
    assert [r.text for r in (results[0], results[2], results[3])] == [
        alone.generate_batch([r])[0].text for r in good
    ]
