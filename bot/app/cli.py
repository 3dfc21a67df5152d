"""The `blipbot` console command: run the bots, describe a photo, chat in the terminal, benchmark.

Errors a user can fix (a bad config value, a missing model, an unreadable photo) end in one
line on stderr and a non-zero exit status, never a traceback: 2 for configuration, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from bot.app.config import ConfigError, Settings, load_settings
from bot.app.logs import configure_logging, secrets_of
from bot.app.platforms import NOTHING_CONFIGURED, nothing_to_run

if TYPE_CHECKING:
    from inference.bench.workload import BotWorkload

log = logging.getLogger("blipbot")

EXIT_ERROR = 1
EXIT_CONFIG = 2


def package_version() -> str:
    try:
        return version("blipbot")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blipbot", description="Describe photos and answer questions about them."
    )
    parser.add_argument("--version", action="version", version=f"blipbot {package_version()}")
    parser.add_argument("--config", type=Path, help="YAML config file (default: ./config.yaml if present)")
    # Accepted after the subcommand too (`blipbot run --config x.yaml`); SUPPRESS keeps the
    # subparser from overwriting a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("run", parents=[common], help="start every chat platform that has a token configured")
    sub.add_parser(
        "serve", parents=[common], help="start the HTTP predictions API (Replicate's and eachlabs' format)"
    )

    describe = sub.add_parser("describe", parents=[common], help="describe one photo and exit")
    describe.add_argument("image", type=Path)
    describe.add_argument("--question", "-q", help="ask this instead of describing")
    describe.add_argument("--model", help="hub id or local directory (overrides inference.model)")

    chat = sub.add_parser("chat", parents=[common], help="talk about one photo in the terminal")
    chat.add_argument("image", type=Path)
    chat.add_argument("--model", help="hub id or local directory (overrides inference.model)")

    sub.add_parser(
        "worker", parents=[common], help="load the model and answer jobs from queue.url (Redis Streams)"
    )
    sub.add_parser(
        "doctor", parents=[common], help="check the config, store, queue, model, OCR, speech and tokens"
    )
    queue = sub.add_parser("queue", parents=[common], help="show the Redis queue, or retry dead letters")
    queue.add_argument("action", nargs="?", choices=["status", "retry"], default="status")

    bench = sub.add_parser(
        "bench", parents=[common], help="benchmark the worker against a naive one-at-a-time loop"
    )
    bench.add_argument("--size", choices=["tiny", "small", "full"], default="small")
    bench.add_argument(
        "--language-model",
        choices=["opt", "t5"],
        default="opt",
        help="the random model's language model: OPT (as blip2-opt-2.7b, default) or Flan-T5 "
        "(as blip2-flan-t5-xl at --size full; its fp16 runs in bf16)",
    )
    bench.add_argument("--users", type=int, default=16, help="people sending a photo at once")
    bench.add_argument("--followups", type=int, default=3, help="questions each person asks afterwards")
    bench.add_argument(
        "--workload",
        choices=["bot", "answers"],
        default="bot",
        help="bot: photos at the default detail and follow-ups, with config.yaml's prompts, beams and "
        "lengths (default); answers: plain answers, greedy unless --beams",
    )
    bench.add_argument(
        "--max-new-tokens", type=int, default=10, help="tokens generated per answer (--workload answers)"
    )
    bench.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    bench.add_argument("--precision", choices=["fp32", "fp16", "bf16", "int8", "int4"], default="fp16")
    bench.add_argument("--json", type=Path, help="also write the results to this JSON file")
    bench.add_argument(
        "--beams",
        type=int,
        help="beam width for both ways (default: config.yaml's for the bot workload, greedy for answers)",
    )
    bench.add_argument(
        "--arrival-rate",
        type=float,
        help="photos per second arriving at Poisson times in the load phase "
        "(default: 70%% of the capacity measured; 0 skips the phase)",
    )
    bench.add_argument("--load-photos", type=int, help="photos in the load phase (default: twice --users)")
    bench.add_argument(
        "--join-running",
        choices=["auto", "on", "off"],
        type=str.lower,
        help="new requests join the running beam search decode (default: inference.join_running; "
        "auto: on a GPU only)",
    )
    bench.add_argument("--static-cache", action="store_true", help="GPU experiment: static KV cache")
    bench.add_argument("--compile", action="store_true", help="GPU experiment: compile the vision tower")
    bench.add_argument(
        "--workers",
        type=int,
        default=0,
        help="serve the crowd through 1, then N, worker processes over Redis (default 0: in-process)",
    )
    bench.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="the Redis that --workers runs over"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_CONFIG
    if args.command == "doctor":  # reports a bad config as one of its lines, so it reads the config itself
        from bot.app.doctor import doctor

        return doctor(args.config)
    overrides: dict[str, object] = {}
    if getattr(args, "model", None):
        overrides["inference"] = {"model": args.model}
    try:
        settings = load_settings(args.config, **overrides)
    except ConfigError as error:
        print(f"blipbot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    # The terminal commands print answers on stdout; their log shows only problems.
    console = args.command in ("describe", "chat")
    configure_logging("ERROR" if console else settings.logging.level, secrets_of(settings))
    if args.command == "run" and nothing_to_run(settings):  # said before torch loads: seconds
        print(NOTHING_CONFIGURED, file=sys.stderr)
        return EXIT_CONFIG
    from bot.core import StartupError
    from inference.loading import ModelLoadError  # torch is imported only once a command needs it

    try:
        return asyncio.run(_dispatch(args, settings))
    except ConfigError as error:  # found while starting, e.g. a token the platform refused
        print(f"blipbot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except StartupError as error:
        print(f"blipbot: {error}", file=sys.stderr)
        return EXIT_ERROR
    except ModelLoadError as error:
        print(f"blipbot: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _bot_workload(settings: Settings, beams: int | None) -> BotWorkload:
    """What the service sends the model, from the config; `beams` (when given) for every request.

    A `beams` below 1 is left for the bench to refuse in its own words.
    """
    from bot.app.runner import service_options
    from inference.bench.workload import BotWorkload

    options = service_options(settings)
    caption, answer = options.caption_options, options.answer_options
    if beams is not None and beams >= 1:
        caption, answer = replace(caption, num_beams=beams), replace(answer, num_beams=beams)
    return BotWorkload(caption, answer, options.caption_prefix)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "bench":
        from inference.bench import run_bench

        return await run_bench(
            size=args.size,
            users=args.users,
            followups=args.followups,
            max_new_tokens=args.max_new_tokens,
            device=args.device,
            precision=args.precision,
            json_path=args.json,
            workload=args.workload,
            bot_workload=_bot_workload(settings, args.beams),
            beams=1 if args.beams is None else args.beams,
            arrival_rate=args.arrival_rate,
            load_photos=args.load_photos,
            max_batch_size=settings.inference.max_batch_size,
            batch_wait_ms=settings.inference.batch_wait_ms,
            embedding_cache_mb=settings.inference.embedding_cache_mb,
            kv_cache_tokens=settings.inference.kv_cache_tokens,
            static_cache=args.static_cache,
            compile=args.compile,
            workers=args.workers,
            redis_url=args.redis_url,
            language_model=args.language_model,
            join_running=(
                settings.inference.join_running
                if args.join_running is None
                else {"on": True, "off": False}.get(args.join_running, "auto")
            ),
        )
    if args.command == "run":
        from bot.app.runner import run_bots

        return await run_bots(settings)
    if args.command == "serve":
        from bot.app.runner import run_api

        return await run_api(settings)
    if args.command == "worker":
        from bot.app.runner import run_worker

        return await run_worker(settings)
    if args.command == "queue":
        return await _queue(args, settings)
    return await _console(args, settings)


async def _queue(args: argparse.Namespace, settings: Settings) -> int:
    """`blipbot queue [status|retry]`: one report of the streams, or the dead letters put back."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from inference.stream_admin import queue_report, retry_dead
    from inference.streams import StreamNames

    if not settings.queue.url:
        print("blipbot: queue.url is empty: requests wait in the bot's own process", file=sys.stderr)
        return EXIT_CONFIG
    redis = Redis.from_url(settings.queue.url)
    names = StreamNames(settings.queue.name)
    try:
        if args.action == "retry":
            print(f"{await retry_dead(redis, names)} dead letters put back on {names.jobs}")
        else:
            print(await queue_report(redis, names))
    except RedisError as error:
        print(f"blipbot: cannot reach the queue in queue.url ({type(error).__name__})", file=sys.stderr)
        return EXIT_ERROR
    finally:
        await redis.aclose()
    return 0


async def _console(args: argparse.Namespace, settings: Settings) -> int:
    from bot import console
    from bot.app.runner import running_service
    from bot.core.images import ImageError, prepare_image

    # The photo is checked before the model loads: a bad file should not cost a model download.
    try:
        data = console.read_photo(args.image)
        await asyncio.to_thread(
            prepare_image,
            data,
            max_bytes=settings.limits.max_image_bytes,
            max_pixels=settings.limits.max_image_pixels,
        )
    except (console.PhotoFileError, ImageError) as error:
        print(f"blipbot: {error}", file=sys.stderr)
        return EXIT_ERROR
    async with running_service(settings, retention=False) as service:
        if args.command == "chat":
            return await console.chat(service, data)
        reply = await console.describe(service, data, args.question)
    if reply.is_error:
        print(f"blipbot: {reply.text}", file=sys.stderr)
        return EXIT_ERROR
    print(reply.text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
