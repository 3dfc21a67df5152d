"""`blipbot bench --workload bot`: people send a photo at the default detail, then ask follow-ups.

A description at the default detail is what the bot sends the model for a new photo: the caption
(caption options) and the four detail questions (answer options), submitted together. The naive
side makes the same generate calls one after another, pixels every time; blipbot's side is the
real worker, every person submitting at once. The bare ceiling runs the same description requests
as plain batched `generate` calls (one per group of equal options, no queue, no caches): what
batching alone gives on this device. Under load, photos arrive one by one at Poisson times.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace

import torch

from inference.bench.conversations import Conversation, NaiveBot
from inference.blip2 import Blip2Engine
from inference.generation import pixel_dtype
from inference.prompts import caption_prompt, detail_prompts
from inference.queue import InferenceQueue
from inference.types import GenerationOptions, GenerationRequest


@dataclass(frozen=True, slots=True)
class BotWorkload:
    """The options and prompts the service uses, from `config.yaml`, with lengths forced equal."""

    caption: GenerationOptions
    answer: GenerationOptions
    caption_prefix: str = ""

    def description(self) -> list[tuple[str, GenerationOptions]]:
        """A normal description's requests, in the order the service submits them."""
        prompts = [(caption_prompt(self.caption_prefix), self.caption)]
        return prompts + [(prompt, self.answer) for prompt in detail_prompts().values()]


@dataclass(slots=True)
class PhotoRun:
    """Descriptions of a crowd: each person's token ids per request, the time to each description.

    `waits_s` is, per description through the worker, how long its first request waited for a
    batch to start it: the part of the time to description that is queueing, not generating.
    """

    token_ids: dict[int, list[tuple[int, ...]]] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    waits_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0


def describe_naively(bot: NaiveBot, workload: BotWorkload, conversations: list[Conversation]) -> PhotoRun:
    """Each person's description in arrival order, one generate call after another."""
    run = PhotoRun()
    started = time.perf_counter()
    for conversation in conversations:
        asked = time.perf_counter()
        answers = [
            bot.answer(conversation.photo, prompt, options) for prompt, options in workload.description()
        ]
        run.latencies_s.append(time.perf_counter() - asked)
        run.token_ids[conversation.user] = [answer.token_ids for answer in answers]
    run.wall_s = time.perf_counter() - started
    return run


async def describe_with_worker(
    queue: InferenceQueue,
    workload: BotWorkload,
    conversations: list[Conversation],
    *,
    arrivals_s: list[float] | None = None,
) -> PhotoRun:
    """Every person's description through the worker, all at once or each at its arrival time.

    A person's requests go in with one `submit_many` under their own order key, as the service
    submits them; the time to description runs from the photo's arrival to its last answer.
    """
    run = PhotoRun()
    started = time.perf_counter()

    async def describe(index: int, conversation: Conversation) -> None:
        if arrivals_s is not None:
            await asyncio.sleep(max(0.0, started + arrivals_s[index] - time.perf_counter()))
        requests = [
            GenerationRequest(conversation.photo, conversation.key, prompt, options)
            for prompt, options in workload.description()
        ]
        asked = time.perf_counter()
        tickets = await queue.submit_many(requests, order_key=conversation.user)
        results = [await ticket.result() for ticket in tickets]
        run.latencies_s.append(time.perf_counter() - asked)
        run.waits_s.append(tickets[0].queue_wait_ms / 1000)
        run.token_ids[conversation.user] = [result.token_ids for result in results]

    await asyncio.gather(*(describe(i, c) for i, c in enumerate(conversations)))
    run.wall_s = time.perf_counter() - started
    return run


def describe_in_bare_batches(
    engine: Blip2Engine, workload: BotWorkload, conversations: list[Conversation], max_batch_size: int
) -> float:
    """Seconds for the crowd's description requests as plain batched `generate` calls, pixels included.

    One call per group of equal options, `max_batch_size` rows at most (as the worker's batches),
    through the processor and `model.generate` like the naive loop: no queue, no caches.
    """
    groups: dict[GenerationOptions, list[tuple[Conversation, str]]] = defaultdict(list)
    for conversation in conversations:
        for prompt, options in workload.description():
            groups[options].append((conversation, prompt))
    model, processor, dtype = engine.model, engine.processor, pixel_dtype(engine.model)
    started = time.perf_counter()
    for options, items in groups.items():
        for start in range(0, len(items), max_batch_size):
            chunk = items[start : start + max_batch_size]
            inputs = processor(
                images=[c.photo for c, _ in chunk],
                text=[p for _, p in chunk],
                padding=True,
                return_tensors="pt",
            ).to(engine.device)
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
            with torch.inference_mode():
                model.generate(**inputs, **options.generate_kwargs())
    return time.perf_counter() - started


def poisson_arrivals(count: int, rate_per_s: float, seed: int = 7) -> list[float]:
    """Arrival times (seconds from the start) of `count` photos at `rate_per_s` on average."""
    rng = random.Random(seed)
    times, now = [], 0.0
    for _ in range(count):
        times.append(now)
        now += rng.expovariate(rate_per_s)
    return times


def forced(options: GenerationOptions) -> GenerationOptions:
    """The same decoding with every answer exactly `max_new_tokens` long, so both sides do equal work.

    Sampling is turned off: two runs of a sampler cannot be compared token for token.
    """
    return replace(options, min_new_tokens=options.max_new_tokens, use_nucleus_sampling=False)
