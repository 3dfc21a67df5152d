"""`blipbot bench`: the same conversations served naively and by blipbot, on a random-weight BLIP-2.

Naive is what a simple bot does: one request at a time, processor plus `model.generate` with the
pixels, under `torch.inference_mode`. blipbot is the real `InferenceWorker` over the real engine
(batching, image-feature cache, key/value prefix reuse), every user submitting concurrently.
Both decode the same options (greedy unless `beams` says otherwise; the bot's answers use 5),
every answer forced to `max_new_tokens`. Follow-up latency is measured apart, one user at a
time, so that batching plays no part in it. On CUDA the bench adds decoding time per step next
to the memory-bandwidth floor, and for int8/int4 the same model in fp16: those paths were
written on a machine without a GPU and have not been run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from inference.bench_device import cuda_figures
from inference.blip2 import Blip2Engine
from inference.loading import resolve_placement
from inference.model import DEFAULT_EMBEDDING_CACHE_MB, load_engine
from inference.prompts import caption_prompt, clean_answer, question_prompt
from inference.random_model import Size, build_blip2
from inference.types import GenerationOptions, GenerationRequest
from inference.worker import InferenceWorker

log = logging.getLogger(__name__)

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
#: Users in the one-user follow-up phase, one after another, for a steadier median.
FOLLOWUP_PHASE_USERS = 5


@dataclass(frozen=True, slots=True)
class Exchange:
    question: str
    answer: str


@dataclass(slots=True)
class Run:
    """What one way of serving produced: every answer per user, and the latencies."""

    answers: dict[int, list[str]] = field(default_factory=dict)
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

    def prompt(self, turn: int, history: list[Exchange], engine: Blip2Engine) -> str:
        """Turn 0 describes the photo; later turns ask, with the earlier questions as history like the bot."""
        if turn == 0:
            return caption_prompt()
        question = QUESTIONS[(turn - 1) % len(QUESTIONS)]
        return question_prompt(
            question, history, count_tokens=engine.count_tokens, budget_tokens=engine.prompt_budget_tokens
        )

    def record(self, turn: int, history: list[Exchange], answer: str) -> None:
        if turn:
            history.append(Exchange(QUESTIONS[(turn - 1) % len(QUESTIONS)], answer))


class NaiveBot:
    """One request at a time, the way a simple bot calls `transformers`."""

    def __init__(self, engine: Blip2Engine, options: GenerationOptions) -> None:
        self.model = engine.model
        self.processor = engine.processor
        self.device = engine.device
        self.options = options
        self._pixel_dtype = self.model.vision_model.embeddings.patch_embedding.weight.dtype

    def answer(self, photo: Image.Image, prompt: str) -> str:
        inputs = self.processor(images=[photo], text=[prompt], return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self._pixel_dtype)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **self.options.generate_kwargs())
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return clean_answer(self.processor.tokenizer.decode(new_tokens, skip_special_tokens=True), prompt)


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
    bot: NaiveBot, engine: Blip2Engine, conversations: list[Conversation], followups: int
) -> Run:
    """Every user's turns, one request at a time, turn by turn across users (arrival order)."""
    run = Run(answers={c.user: [] for c in conversations})
    histories: dict[int, list[Exchange]] = {c.user: [] for c in conversations}
    started = time.perf_counter()
    for turn in range(followups + 1):
        for conversation in conversations:
            history = histories[conversation.user]
            prompt = conversation.prompt(turn, history, engine)
            asked = time.perf_counter()
            answer = bot.answer(conversation.photo, prompt)
            elapsed = time.perf_counter() - asked
            run.latencies_s.append(elapsed)
            if turn:
                run.followup_latencies_s.append(elapsed)
            run.answers[conversation.user].append(answer)
            conversation.record(turn, history, answer)
    run.wall_s = time.perf_counter() - started
    return run


async def serve_with_worker(
    worker: InferenceWorker,
    engine: Blip2Engine,
    conversations: list[Conversation],
    followups: int,
    options: GenerationOptions,
) -> Run:
    """Every user at once; each sends the next question when the previous answer has arrived."""
    run = Run(answers={c.user: [] for c in conversations})

    async def converse(conversation: Conversation) -> None:
        history: list[Exchange] = []
        for turn in range(followups + 1):
            prompt = conversation.prompt(turn, history, engine)
            request = GenerationRequest(conversation.photo, conversation.key, prompt, options)
            asked = time.perf_counter()
            result = await worker.submit(request, order_key=conversation.user).result()
            elapsed = time.perf_counter() - asked
            run.latencies_s.append(elapsed)
            if turn:
                run.followup_latencies_s.append(elapsed)
            run.answers[conversation.user].append(result.text)
            conversation.record(turn, history, result.text)

    started = time.perf_counter()
    await asyncio.gather(*(converse(c) for c in conversations))
    run.wall_s = time.perf_counter() - started
    return run


def build_engine(
    size: Size, device: str, precision: str, *, embedding_cache_mb: float, static_cache: bool, compile: bool
) -> Blip2Engine:
    """A random-weight BLIP-2 of `size` as an engine; on a GPU, loaded the way the bot loads checkpoints."""
    placement = resolve_placement(device, precision, language_model_type="opt")
    model, processor = build_blip2(size, device=str(placement.device))
    speak_the_tokenizer(model, len(processor.tokenizer))
    options = {"embedding_cache_mb": embedding_cache_mb, "static_cache": static_cache, "compile": compile}
    if placement.device.type == "cpu":
        return Blip2Engine(model, processor, placement.device, name=f"random-{size}", **options)
    # fp16/bf16/int8/int4 go through `from_pretrained`, which keeps the Q-Former in fp32 and
    # quantizes with bitsandbytes exactly as for a downloaded checkpoint.
    with tempfile.TemporaryDirectory(prefix="blipbot-bench-") as directory:
        model.half().save_pretrained(directory)
        processor.save_pretrained(directory)
        del model
        torch.cuda.empty_cache()
        engine = load_engine(directory, device=str(placement.device), precision=precision, **options)
    assert isinstance(engine, Blip2Engine)
    engine.name = f"random-{size}"
    return engine


def fp16_reference(size: Size, device: str, options: GenerationOptions) -> dict[str, Any]:
    """The GPU figures of the same model in fp16, to set a quantized run's memory and speed against."""
    torch.cuda.empty_cache()
    reference = build_engine(
        size, device, "fp16", embedding_cache_mb=DEFAULT_EMBEDDING_CACHE_MB, static_cache=False, compile=False
    )
    figures = cuda_figures(reference, options)
    keep = ("weights_mb", "decode_ms_per_step_batch1", "decode_ms_per_step_batch16")
    return {f"fp16_{name}": figures[name] for name in keep}


def speak_the_tokenizer(model: Any, tokenizer_size: int) -> None:
    """Zero the output rows of ids the in-memory tokenizer cannot decode.

    `small` and `full` keep the real 50k-row embedding table, but the bench's tokenizer knows only
    ~1k tokens: a random model would mostly emit undecodable ids, every answer would read as empty,
    and the conversation history (what prefix reuse is for) would never grow. Zero logits keep
    those ids out of greedy answers; the arithmetic per token is unchanged.
    """
    embeddings = model.language_model.get_output_embeddings().weight
    with torch.no_grad():
        embeddings[tokenizer_size:].zero_()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # Linux reports the peak resident set in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_bench(
    *,
    size: Size,
    users: int,
    followups: int,
    max_new_tokens: int,
    device: str,
    precision: str,
    json_path: Path | None,
    beams: int = 1,
    max_batch_size: int = 16,
    batch_wait_ms: float = 5.0,
    embedding_cache_mb: float = DEFAULT_EMBEDDING_CACHE_MB,
    static_cache: bool = False,
    compile: bool = False,
) -> int:
    """Build the model, serve the conversations both ways, print a table; 0 when done."""
    if users < 1 or followups < 0 or max_new_tokens < 1:
        print("blipbot bench: --users must be at least 1, --followups 0 or more", file=sys.stderr)
        return 1
    options = GenerationOptions(num_beams=beams, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens)
    engine = await asyncio.to_thread(
        build_engine,
        size,
        device,
        precision,
        embedding_cache_mb=embedding_cache_mb,
        static_cache=static_cache,
        compile=compile,
    )
    if engine.device.type == "cuda":
        # Building went through fp32 weights on the GPU; the peak that counts starts now.
        torch.cuda.reset_peak_memory_stats(engine.device)
    naive = NaiveBot(engine, options)
    worker = InferenceWorker(
        engine, queue_size=max(64, users * 2), max_batch_size=max_batch_size, batch_wait_ms=batch_wait_ms
    )
    await worker.start()
    try:
        # Warm both paths (allocator, lazy initialisation) on a photo nobody else sends.
        [warm] = photos(1, seed=10_000)
        await asyncio.to_thread(serve_naively, naive, engine, [warm], 1)
        await serve_with_worker(worker, engine, [warm], 1, options)

        crowd = photos(users, seed=1)
        naive_run = await asyncio.to_thread(serve_naively, naive, engine, crowd, followups)
        crowd = photos(users, seed=1)
        blipbot_run = await serve_with_worker(worker, engine, crowd, followups, options)

        # One user at a time, alternating, so batching plays no part in the follow-up latency.
        naive_followups, blipbot_followups = Run(), Run()
        for index in range(FOLLOWUP_PHASE_USERS if followups else 0):
            [alone] = photos(1, seed=20_000 + index)
            one = await asyncio.to_thread(serve_naively, naive, engine, [alone], followups)
            naive_followups.followup_latencies_s += one.followup_latencies_s
            two = await serve_with_worker(worker, engine, [alone], followups, options)
            blipbot_followups.followup_latencies_s += two.followup_latencies_s

        extra = await asyncio.to_thread(cuda_figures, engine, options) if engine.device.type == "cuda" else {}
    finally:
        await worker.stop()
    results = summarise(
        engine, size, users, followups, options, precision, naive_run, blipbot_run,
        naive_followups, blipbot_followups,
    )  # fmt: skip
    results.update(extra)
    if extra and precision in ("int8", "int4"):
        results.update(await asyncio.to_thread(fp16_reference, size, device, options))
    print(render_table(results))
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def summarise(
    engine: Blip2Engine,
    size: str,
    users: int,
    followups: int,
    options: GenerationOptions,
    precision: str,
    naive: Run,
    blipbot: Run,
    naive_followups: Run,
    blipbot_followups: Run,
) -> dict[str, Any]:
    naive_rate = naive.count / naive.wall_s
    blipbot_rate = blipbot.count / blipbot.wall_s
    identical = sum(
        a == b
        for user in naive.answers
        for a, b in zip(naive.answers[user], blipbot.answers[user], strict=True)
    )
    results: dict[str, Any] = {
        "device": str(engine.device),
        "size": size,
        "users": users,
        "followups": followups,
        "precision": "fp32" if engine.device.type == "cpu" else precision,  # the CPU always runs fp32
        "params_m": round(sum(p.numel() for p in engine.model.parameters()) / 1e6, 1),
        "max_new_tokens": options.max_new_tokens,
        "num_beams": options.num_beams,
        "answers": blipbot.count,
        "answers_identical_to_naive": identical,
        "naive_wall_s": round(naive.wall_s, 3),
        "blipbot_wall_s": round(blipbot.wall_s, 3),
        "naive_answers_per_s": round(naive_rate, 3),
        "blipbot_answers_per_s": round(blipbot_rate, 3),
        "speedup": round(blipbot_rate / naive_rate, 2),
        "p50_ms": round(percentile(blipbot.latencies_s, 0.5) * 1000, 1),
        "p95_ms": round(percentile(blipbot.latencies_s, 0.95) * 1000, 1),
        "naive_p50_ms": round(percentile(naive.latencies_s, 0.5) * 1000, 1),
        "peak_memory_mb": round(peak_memory_mb(engine.device), 1),
        "feature_cache": {"hits": engine.features.stats.hits, "misses": engine.features.stats.misses},
        "prefix_cache": {"hits": engine.prefixes.stats.hits, "misses": engine.prefixes.stats.misses},
    }
    if naive_followups.followup_latencies_s and blipbot_followups.followup_latencies_s:
        naive_ms = statistics.median(naive_followups.followup_latencies_s) * 1000
        blipbot_ms = statistics.median(blipbot_followups.followup_latencies_s) * 1000
        results.update(
            naive_followup_ms=round(naive_ms, 1),
            blipbot_followup_ms=round(blipbot_ms, 1),
            followup_speedup=round(naive_ms / blipbot_ms, 2),
        )
    return results


def render_table(r: dict[str, Any]) -> str:
    lines = [
        f"blipbot bench: size={r['size']} ({r['params_m']}M params) device={r['device']} "
        f"precision={r['precision']} users={r['users']} followups={r['followups']} "
        f"max_new_tokens={r['max_new_tokens']} beams={r['num_beams']}",
        f"{'':28}{'naive':>12}{'blipbot':>12}",
        f"{'answers':28}{r['answers']:>12}{r['answers']:>12}",
        f"{'wall time (s)':28}{r['naive_wall_s']:>12.2f}{r['blipbot_wall_s']:>12.2f}",
        f"{'answers / s':28}{r['naive_answers_per_s']:>12.2f}{r['blipbot_answers_per_s']:>12.2f}"
        f"   speedup {r['speedup']:.2f}x",
        f"{'latency p50 / p95 (ms)':28}{r['naive_p50_ms']:>12.0f}{r['p50_ms']:>7.0f} /{r['p95_ms']:>4.0f}",
    ]
    if "followup_speedup" in r:
        lines.append(
            f"{'one-user follow-up (ms)':28}{r['naive_followup_ms']:>12.0f}{r['blipbot_followup_ms']:>12.0f}"
            f"   followup_speedup {r['followup_speedup']:.2f}x"
        )
    lines.append(f"{'peak memory (MB)':28}{r['peak_memory_mb']:>24.0f}")
    lines.append(f"answers identical to naive: {r['answers_identical_to_naive']}/{r['answers']}")
    if "decode_ms_per_step_batch1" in r:
        lines.append(
            f"{r['gpu']}: weights {r['weights_mb']:.0f} MB, decode ms/step at batch 1 "
            f"{r['decode_ms_per_step_batch1']:.2f} (bandwidth floor {r['bandwidth_floor_ms_per_step']:.2f}), "
            f"at batch 16 {r['decode_ms_per_step_batch16']:.2f}"
        )
    if "fp16_weights_mb" in r:
        lines.append(
            f"same model in fp16: weights {r['fp16_weights_mb']:.0f} MB, decode ms/step at batch 1 "
            f"{r['fp16_decode_ms_per_step_batch1']:.2f}, "
            f"at batch 16 {r['fp16_decode_ms_per_step_batch16']:.2f}"
        )
    return "\n".join(lines)
