"""One worker process of `blipbot bench --workers N`: load the saved model, warm up, answer jobs.

Started by `inference.bench.cluster` as `python -m inference.bench.worker_process ...`, one per
worker, each on one torch thread so that N of them use N cores and nothing more. The model is
warmed up before the worker joins the queue, and joining (its id in the stream names' worker
set) is the signal that it is ready, so neither start-up nor warm-up lands in the timed crowd.
SIGTERM stops it after the batch in hand, as it does `blipbot worker`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import logging
import signal
import sys

import torch
from PIL import Image
from redis.asyncio import Redis

from inference.blip2 import Blip2Engine
from inference.joining import resolve_join_running
from inference.prompts import caption_prompt, question_prompt
from inference.stream_worker import StreamWorker
from inference.streams import StreamNames
from inference.types import GenerationOptions, GenerationRequest
from inference.worker import InferenceWorker
from storage import Store

log = logging.getLogger(__name__)

#: The warm-up photo's size: any will do, its features are never asked for again.
WARM_UP_PHOTO_SIZE = (640, 480)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inference.bench.worker_process")
    parser.add_argument("--model", required=True, help="directory the bench saved the random model to")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--prefix", required=True, help="the run's Redis key prefix (StreamNames)")
    parser.add_argument("--store-url", required=True, help="the bench's throwaway store")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--embedding-cache-mb", type=float, default=256)
    parser.add_argument("--max-new-tokens", type=int, default=10)
    parser.add_argument("--beams", type=int, default=1)
    return parser


def decode_photo(data: bytes) -> Image.Image:
    """The stored photo as RGB pixels (the bench stores only photos it made, so no checks)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def warm_up(engine: Blip2Engine, options: GenerationOptions) -> None:
    """A caption and a follow-up on a photo of its own: lazy initialisation, allocator, both paths."""
    photo = Image.effect_noise(WARM_UP_PHOTO_SIZE, 64).convert("RGB")
    key = "warm-up-" + hashlib.sha256(photo.tobytes()).hexdigest()
    [caption] = engine.generate_batch([GenerationRequest(photo, key, caption_prompt(), options)])
    question = question_prompt(
        "What is in the picture?",
        [],
        count_tokens=engine.count_tokens,
        budget_tokens=engine.prompt_budget_tokens,
    )
    engine.generate_batch([GenerationRequest(photo, key, question, options)])
    engine.forget([key])
    log.debug("warmed up (caption %r)", caption.text)


async def serve(args: argparse.Namespace) -> None:
    """Load, warm up, then answer jobs under `args.prefix` until SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    options = GenerationOptions(
        num_beams=args.beams, max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens
    )
    engine = await asyncio.to_thread(
        Blip2Engine.load,
        args.model,
        device=args.device,
        precision=args.precision,
        embedding_cache_mb=args.embedding_cache_mb,
    )
    await asyncio.to_thread(warm_up, engine, options)
    store = await Store.open(args.store_url)
    redis = Redis.from_url(args.redis_url)
    local = InferenceWorker(
        engine,
        max_batch_size=args.max_batch_size,
        batch_wait_ms=args.batch_wait_ms,
        join_running=resolve_join_running("auto", engine.device.type),  # as `blipbot worker` decides
    )
    await local.start()
    try:
        worker = StreamWorker(
            redis,
            StreamNames(args.prefix),
            local,
            load_photo=store.ledger.photo_data,
            prepare=decode_photo,
            save_results=store.ledger.save_results,
        )
        await worker.run(stop)
    finally:
        await local.stop()
        await redis.aclose()
        await store.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="worker %(process)d %(levelname)s %(name)s: %(message)s"
    )
    # One thread per process: N workers on N cores must not fight over them (the parent also sets
    # OMP_NUM_THREADS=1 before torch is imported, which this cannot do any more).
    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):  # only settable before any parallel work has run
        torch.set_num_interop_threads(1)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
