"""The conversations `blipbot bench` plays: photos, questions, and the two ways of serving them.

Naive is what a simple bot does: one request at a time, processor plus `model.generate` with the
pixels, under `torch.inference_mode`. blipbot is the real `InferenceWorker` over the real engine,
every user submitting concurrently; both record the same `Run` of answers and latencies.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from PIL import Image

from inference.blip2 import Blip2Engine
from inference.generation import eos_ids, pixel_dtype
from inference.prompts import caption_prompt, clean_answer, question_prompt
from inference.queue import InferenceQueue
from inference.types import GenerationOptions, GenerationRequest

#: Telegram's largest photo size, the one the bot downloads (Discord sends originals, often larger).
PHOTO_SIZE = (1280, 960)
QUESTIONS = (
    "What is in the picture?",
    "What color is the car?",
    "How many people are there?",
    "Is it raining?",
    "What does the sign say?",
    "Where was this taken?",
)


@dataclass(frozen=True, slots=True)
class SimulatedExchange:
    question: str
    answer: str


@dataclass(slots=True)
class Run:
    """What one way of serving produced: every answer per user, and the latencies."""

    answers: dict[int, list[str]] = field(default_factory=dict)
    token_ids: dict[int, list[tuple[int, ...]]] = field(default_factory=dict)
    latencies_s: list[float] = field(default_factory=list)
    followup_latencies_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def count(self) -> int:
        return sum(len(a) for a in self.answers.values())


@dataclass(frozen=True, slots=True)
class Conversation:
    """One user's photo; the prompts follow from the answers as they come."""

    user: int
    photo: Image.Image
    key: str

    def prompt(self, turn: int, history: list[SimulatedExchange], engine: Blip2Engine) -> str:
        """Turn 0 describes the photo; later turns ask, with the earlier questions as history like the bot."""
        if turn == 0:
            return caption_prompt()
        question = QUESTIONS[(turn - 1) % len(QUESTIONS)]
        return question_prompt(
            question, history, count_tokens=engine.count_tokens, budget_tokens=engine.prompt_budget_tokens
        )

    def record(self, turn: int, history: list[SimulatedExchange], answer: str) -> None:
        if turn:
            history.append(SimulatedExchange(QUESTIONS[(turn - 1) % len(QUESTIONS)], answer))


@dataclass(frozen=True, slots=True)
class NaiveAnswer:
    """What the naive loop produced for one request: the cleaned text and the new token ids."""

    text: str
    token_ids: tuple[int, ...]


class NaiveBot:
    """One request at a time, the way a simple bot calls `transformers`: pixels every time."""

    def __init__(self, engine: Blip2Engine, options: GenerationOptions) -> None:
        self.model = engine.model
        self.processor = engine.processor
        self.device = engine.device
        self.options = options
        self._pixel_dtype = pixel_dtype(self.model)
        self._eos = eos_ids(self.model.language_model.generation_config)

    def answer(
        self, photo: Image.Image, prompt: str, options: GenerationOptions | None = None
    ) -> NaiveAnswer:
        inputs = self.processor(images=[photo], text=[prompt], return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self._pixel_dtype)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **(options or self.options).generate_kwargs())
        # A decoder-only model echoes the prompt; an encoder-decoder's output starts with its decoder
        # start token instead.
        start = 1 if self.model.config.text_config.is_encoder_decoder else inputs["input_ids"].shape[1]
        new_tokens = until_eos(output[0, start:].tolist(), self._eos)
        text = self.processor.tokenizer.decode(new_tokens, skip_special_tokens=True)
        return NaiveAnswer(clean_answer(text, prompt), new_tokens)


def until_eos(tokens: list[int], eos: set[int]) -> tuple[int, ...]:
    """The tokens before the first end-of-sequence, as the engine counts an answer's tokens."""
    end = next((i for i, token in enumerate(tokens) if token in eos), len(tokens))
    return tuple(tokens[:end])


def photos(count: int, seed: int) -> list[Conversation]:
    rng = random.Random(seed)
    result = []
    for user in range(count):
        base = Image.new("RGB", PHOTO_SIZE, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        noise = Image.frombytes("RGB", PHOTO_SIZE, rng.randbytes(PHOTO_SIZE[0] * PHOTO_SIZE[1] * 3))
        photo = Image.blend(base, noise, 0.5)
        key = hashlib.sha256(photo.tobytes()).hexdigest()
        result.append(Conversation(user, photo, key))
    return result


def serve_naively(
    bot: NaiveBot,
    engine: Blip2Engine,
    conversations: list[Conversation],
    followups: int,
    *,
    first_turn: int = 0,
) -> Run:
    """Every user's turns, one request at a time, turn by turn across users (arrival order).

    `first_turn` 1 skips the caption: the bot workload describes photos its own way first.
    """
    run = Run(answers={c.user: [] for c in conversations})
    histories: dict[int, list[SimulatedExchange]] = {c.user: [] for c in conversations}
    started = time.perf_counter()
    for turn in range(first_turn, followups + 1):
        for conversation in conversations:
            history = histories[conversation.user]
            prompt = conversation.prompt(turn, history, engine)
            asked = time.perf_counter()
            answer = bot.answer(conversation.photo, prompt)
            elapsed = time.perf_counter() - asked
            run.latencies_s.append(elapsed)
            if turn:
                run.followup_latencies_s.append(elapsed)
            run.answers[conversation.user].append(answer.text)
            run.token_ids.setdefault(conversation.user, []).append(answer.token_ids)
            conversation.record(turn, history, answer.text)
    run.wall_s = time.perf_counter() - started
    return run


async def serve_with_worker(
    queue: InferenceQueue,
    engine: Blip2Engine,
    conversations: list[Conversation],
    followups: int,
    options: GenerationOptions,
    *,
    photo_refs: Mapping[int, int] | None = None,
    jobs: dict[int, list[str]] | None = None,
    first_turn: int = 0,
) -> Run:
    """Every user at once; each sends the next question when the previous answer has arrived.

    `queue` is the in-process worker or the networked queue (whose jobs need each user's stored
    photo id, `photo_refs`); `jobs`, when given, collects each user's job ids in order; `first_turn`
    1 skips the caption.
    """
    run = Run(answers={c.user: [] for c in conversations})

    async def converse(conversation: Conversation) -> None:
        history: list[SimulatedExchange] = []
        photo_ref = photo_refs.get(conversation.user) if photo_refs is not None else None
        for turn in range(first_turn, followups + 1):
            prompt = conversation.prompt(turn, history, engine)
            request = GenerationRequest(
                conversation.photo, conversation.key, prompt, options, photo_ref=photo_ref
            )
            asked = time.perf_counter()
            ticket = await queue.submit(request, order_key=conversation.user)
            if jobs is not None:
                jobs.setdefault(conversation.user, []).append(ticket.job_id)
            result = await ticket.result()
            elapsed = time.perf_counter() - asked
            run.latencies_s.append(elapsed)
            if turn:
                run.followup_latencies_s.append(elapsed)
            run.answers[conversation.user].append(result.text)
            run.token_ids.setdefault(conversation.user, []).append(result.token_ids)
            conversation.record(turn, history, result.text)

    started = time.perf_counter()
    await asyncio.gather(*(converse(c) for c in conversations))
    run.wall_s = time.perf_counter() - started
    return run
