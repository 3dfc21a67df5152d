"""`blipbot bench`: the same conversations served naively and by blipbot, on a random-weight BLIP-2.

Naive is one request at a time through `model.generate`; blipbot is the real `InferenceWorker`
over the real engine (batching, image-feature cache, key/value prefix reuse), every user
submitting concurrently (see `conversations`). Both decode the same options (greedy unless `beams`
says otherwise; the bot's answers use 5), every answer forced to `max_new_tokens`. Follow-up
latency is measured apart, one user at a time, so that batching plays no part in it. On CUDA the
bench adds decoding time per step next to the memory-bandwidth floor, and for int8/int4 the same
model in fp16: those paths were written on a machine without a GPU and have not been run.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from inference.bench.conversations import NaiveBot, Run, photos, serve_naively, serve_with_worker
from inference.bench.device import cuda_figures
from inference.bench.random_model import Size, build_blip2
from inference.bench.report import render_table, summarise
from inference.bench.scaleout import DEFAULT_REDIS_URL, run_scaleout
from inference.blip2 import Blip2Engine
from inference.loading import resolve_placement
from inference.model import DEFAULT_EMBEDDING_CACHE_MB, load_engine
from inference.types import GenerationOptions
from inference.worker import InferenceWorker

log = logging.getLogger(__name__)

#: Users in the one-user follow-up phase, one after another, for a steadier median.
FOLLOWUP_PHASE_USERS = 5


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
    workers: int = 0,
    redis_url: str = DEFAULT_REDIS_URL,
) -> int:
    """Build the model, serve the conversations both ways, print a table; 0 when done.

    With `workers` (N ≥ 1) the crowd goes through 1, then N, worker processes over the Redis at
    `redis_url` instead (see `scaleout`).
    """
    if users < 1 or followups < 0 or max_new_tokens < 1 or workers < 0:
        print(
            "blipbot bench: --users must be at least 1, --followups and --workers 0 or more", file=sys.stderr
        )
        return 1
    options = GenerationOptions(num_beams=beams, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens)
    if workers:
        return await run_scaleout(
            # On the CPU in fp32 whatever `device` says: it is saved for the workers, which load it
            # on `device`, and this process needs only its tokenizer.
            build_engine=functools.partial(
                build_engine, size, "cpu", "fp32", embedding_cache_mb=0, static_cache=False, compile=False
            ),
            size=size,
            users=users,
            followups=followups,
            options=options,
            workers=workers,
            redis_url=redis_url,
            device=device,
            precision=precision,
            max_batch_size=max_batch_size,
            batch_wait_ms=batch_wait_ms,
            embedding_cache_mb=embedding_cache_mb,
            json_path=json_path,
        )
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
