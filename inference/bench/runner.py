"""`blipbot bench`: the same work served naively and by blipbot, on a random-weight BLIP-2.

Naive is one request at a time through `model.generate`; blipbot is the real `InferenceWorker`
over the real engine (batching, image-feature cache, key/value prefix reuse), every user
submitting concurrently. Two workloads: `bot` (the default, see `bot_run`) is what the service
does, photos at the default detail with the configured prompts, beams and lengths, then
follow-ups; `answers` is plain answers with the same options throughout (greedy unless `beams`
says otherwise). Every answer is forced to its full length on both sides, and both sides' token
ids are compared: on the CPU in fp32 any difference fails the bench (exit 1). On CUDA the bench
adds decoding time per step next to the memory-bandwidth floor, and for int8/int4 the same model
in fp16.
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

from inference.bench.bot_report import render_bot_table, summarise_bot
from inference.bench.bot_run import run_bot_workload
from inference.bench.conversations import NaiveBot, Run, photos, serve_naively, serve_with_worker
from inference.bench.device import cuda_figures
from inference.bench.random_model import LanguageModel, Size, build_blip2
from inference.bench.report import render_table, summarise
from inference.bench.scaleout import DEFAULT_REDIS_URL, run_scaleout
from inference.bench.workload import BotWorkload, forced
from inference.blip2 import Blip2Engine
from inference.joining import resolve_join_running
from inference.loading import resolve_placement
from inference.model import DEFAULT_EMBEDDING_CACHE_MB, DEFAULT_KV_CACHE_TOKENS, load_engine
from inference.types import ANSWER_OPTIONS, CAPTION_OPTIONS, GenerationOptions
from inference.worker import InferenceWorker

log = logging.getLogger(__name__)

#: Users in the one-user follow-up phase, one after another, for a steadier median.
FOLLOWUP_PHASE_USERS = 5
#: Exit statuses: refused arguments (as argparse's), and answers that differ from the naive loop's.
EXIT_USAGE = 2
EXIT_MISMATCH = 1


def build_engine(
    size: Size,
    device: str,
    precision: str,
    *,
    embedding_cache_mb: float,
    static_cache: bool,
    compile: bool,
    language_model: LanguageModel = "opt",
    kv_cache_tokens: int = DEFAULT_KV_CACHE_TOKENS,
) -> Blip2Engine:
    """A random-weight BLIP-2 of `size` as an engine, its weights made on the device in their dtype.

    fp32, fp16 and bf16 build the model in place, straight in the dtypes `from_pretrained` would
    give a downloaded checkpoint (Q-Former in fp32 for fp16), so "full" never passes through fp32.
    int8/int4 are saved in their compute dtype and loaded back as the bot loads a checkpoint,
    since bitsandbytes quantizes while `from_pretrained` reads the weights.
    """
    # The names are the text configs' `model_type`s, which decide fp16's fallback for Flan-T5.
    placement = resolve_placement(device, precision, language_model_type=language_model)
    model, processor = build_blip2(size, language_model, device=str(placement.device), dtype=placement.dtype)
    speak_the_tokenizer(model, len(processor.tokenizer))
    options = {
        "embedding_cache_mb": embedding_cache_mb,
        "kv_cache_tokens": kv_cache_tokens,
        "static_cache": static_cache,
        "compile": compile,
    }
    name = f"random-{size}" if language_model == "opt" else f"random-{size}-{language_model}"
    if placement.quantization is None:
        return Blip2Engine(model, processor, placement.device, name=name, **options)
    with tempfile.TemporaryDirectory(prefix="blipbot-bench-") as directory:
        model.save_pretrained(directory)
        processor.save_pretrained(directory)
        del model
        torch.cuda.empty_cache()
        engine = load_engine(directory, device=str(placement.device), precision=precision, **options)
    assert isinstance(engine, Blip2Engine)
    engine.name = name
    return engine


def fp16_reference(
    size: Size, device: str, options: GenerationOptions, language_model: LanguageModel = "opt"
) -> dict[str, Any]:
    """The GPU figures of the same model in fp16, to set a quantized run's memory and speed against.

    For Flan-T5 "fp16" means bf16, as for the quantized run's compute dtype (see `resolve_placement`).
    """
    torch.cuda.empty_cache()
    reference = build_engine(
        size,
        device,
        "fp16",
        embedding_cache_mb=DEFAULT_EMBEDDING_CACHE_MB,
        static_cache=False,
        compile=False,
        language_model=language_model,
    )
    figures = cuda_figures(reference, options)
    keep = ("weights_mb", "decode_ms_per_step_batch1", "decode_ms_per_step_batch16")
    return {f"fp16_{name}": figures[name] for name in keep}


def speak_the_tokenizer(model: Any, tokenizer_size: int) -> None:
    """Zero the output rows of ids the in-memory tokenizer cannot decode.

    `small` and `full` keep the real 50k-row embedding table, but the bench's tokenizer knows only
    ~1k tokens: a random model would mostly emit undecodable ids, every answer would read as empty,
    and the conversation history (what prefix reuse is for) would never grow. Zero logits keep
    those ids out of greedy answers; the arithmetic per token is unchanged. OPT and Flan-T5 (in
    `transformers` 5) tie their output embeddings to their input ones, so those ids' input rows
    are zeroed too: harmless, since the tokenizer never produces them.
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
    workload: str = "bot",
    bot_workload: BotWorkload | None = None,
    beams: int = 1,
    max_batch_size: int = 16,
    batch_wait_ms: float = 5.0,
    embedding_cache_mb: float = DEFAULT_EMBEDDING_CACHE_MB,
    kv_cache_tokens: int = DEFAULT_KV_CACHE_TOKENS,
    static_cache: bool = False,
    compile: bool = False,
    workers: int = 0,
    redis_url: str = DEFAULT_REDIS_URL,
    arrival_rate: float | None = None,
    load_photos: int | None = None,
    engine: Blip2Engine | None = None,
    language_model: LanguageModel = "opt",
    join_running: bool | str = "auto",
) -> int:
    """Build the model, serve the workload both ways, print a table; 0 when done.

    `bot_workload` defaults to the service's own options (5-beam captions of 30 tokens, answers of
    10). With `workers` (N ≥ 1) the crowd goes through 1, then N, worker processes over the Redis at
    `redis_url` instead (see `scaleout`). `engine` replaces the random model (tests pass their own).
    """
    refusal = _refusal(users, followups, max_new_tokens, beams, workers, arrival_rate, load_photos, workload)
    if refusal:
        print(f"blipbot bench: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    options = GenerationOptions(num_beams=beams, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens)
    if workers:
        return await run_scaleout(
            # On the CPU in fp32 whatever `device` says: it is saved for the workers, which load it
            # on `device`, and this process needs only its tokenizer.
            build_engine=functools.partial(
                build_engine,
                size,
                "cpu",
                "fp32",
                embedding_cache_mb=0,
                static_cache=False,
                compile=False,
                language_model=language_model,
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
    if engine is None:
        engine = await asyncio.to_thread(
            build_engine,
            size,
            device,
            precision,
            embedding_cache_mb=embedding_cache_mb,
            kv_cache_tokens=kv_cache_tokens,
            static_cache=static_cache,
            compile=compile,
            language_model=language_model,
        )
    if engine.device.type == "cuda":
        # Building (for int8/int4 also saving and reloading) took more; the peak that counts starts now.
        torch.cuda.reset_peak_memory_stats(engine.device)
    joins = resolve_join_running(join_running, engine.device.type)
    worker = InferenceWorker(
        engine,
        queue_size=max(64, users * 10),
        max_batch_size=max_batch_size,
        batch_wait_ms=batch_wait_ms,
        join_running=joins,
    )
    await worker.start()
    try:
        if workload == "bot":
            chosen = bot_workload or BotWorkload(CAPTION_OPTIONS, ANSWER_OPTIONS)
            chosen = BotWorkload(forced(chosen.caption), forced(chosen.answer), chosen.caption_prefix)
            run = await run_bot_workload(
                engine,
                worker,
                chosen,
                users=users,
                followups=followups,
                max_batch_size=max_batch_size,
                arrival_rate_per_s=arrival_rate,
                load_photos=2 * users if load_photos is None else load_photos,
            )
            results = summarise_bot(engine, size, chosen, users, followups, precision, run)
            extra_options = chosen.caption
        else:
            results = await _answers_workload(engine, worker, size, users, followups, options, precision)
            extra_options = options
        extra = (
            await asyncio.to_thread(cuda_figures, engine, extra_options)
            if engine.device.type == "cuda"
            else {}
        )
    finally:
        await worker.stop()
    results.update(extra, language_model=language_model, scheduling="joint" if joins else "turns")
    if extra and precision in ("int8", "int4"):
        results.update(await asyncio.to_thread(fp16_reference, size, device, extra_options, language_model))
    print(render_bot_table(results) if workload == "bot" else render_table(results))
    if json_path is not None:
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    return _verdict(results, engine)


def _refusal(
    users: int,
    followups: int,
    max_new_tokens: int,
    beams: int,
    workers: int,
    arrival_rate: float | None,
    load_photos: int | None,
    workload: str,
) -> str | None:
    """What is wrong with the arguments, in one line; None when nothing is."""
    if workload not in ("bot", "answers"):
        return f"--workload must be bot or answers, not {workload!r}"
    if users < 1:
        return "--users must be at least 1"
    if beams < 1:
        return "--beams must be at least 1"
    if max_new_tokens < 1:
        return "--max-new-tokens must be at least 1"
    if followups < 0 or workers < 0:
        return "--followups and --workers must be 0 or more"
    if arrival_rate is not None and arrival_rate < 0:
        return "--arrival-rate must be 0 (no load phase) or more"
    if load_photos is not None and load_photos < 0:
        return "--load-photos must be 0 or more"
    return None


def _verdict(results: dict[str, Any], engine: Blip2Engine) -> int:
    """0, or EXIT_MISMATCH when the CPU in fp32 gave answers whose token ids differ from the naive loop's.

    Half precision on a GPU may round differently in a batch than alone, so there the rate is
    reported, not enforced.
    """
    if engine.device.type != "cpu":
        return 0
    same, compared = (
        (results["requests_identical_to_naive"], results["requests_compared"])
        if "requests_compared" in results
        else (results["answers_identical_to_naive"], results["answers"])
    )
    if same == compared:
        return 0
    print(
        f"blipbot bench: {compared - same} of {compared} answers differ from the naive loop's token ids "
        "(on the CPU in fp32 they must be identical)",
        file=sys.stderr,
    )
    return EXIT_MISMATCH


async def _answers_workload(
    engine: Blip2Engine,
    worker: InferenceWorker,
    size: Size,
    users: int,
    followups: int,
    options: GenerationOptions,
    precision: str,
) -> dict[str, Any]:
    """`--workload answers`: every turn with the same options, the crowd, then one user at a time."""
    naive = NaiveBot(engine, options)
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
    return summarise(
        engine, size, users, followups, options, precision, naive_run, blipbot_run,
        naive_followups, blipbot_followups,
    )  # fmt: skip
