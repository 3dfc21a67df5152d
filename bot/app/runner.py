"""`blipbot run` and the wiring under every command: config -> store -> model -> worker -> service.

Every adapter receives the one `ChatService` built by `running_service`, so all platforms share
one worker (one model on the device) and one store. The platforms are named in `PLATFORMS`
(bot/app/platforms.py): a new front end is a new package with `is_configured(settings)` and
`build_adapter(settings, service)`, and one line there. SIGINT and SIGTERM stop the adapters
first (no new messages), then the worker finishes what is queued, then the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bot.app.config import Settings
from bot.app.features import startup_report
from bot.app.platforms import NOTHING_CONFIGURED, PLATFORMS, configured_platforms, nothing_to_run
from bot.core import ChatRef, ChatService, ConfigError, Reply, ServiceOptions, StartupError
from bot.core.errors import short_reason
from bot.core.images import prepare_image
from bot.core.preferences import Preferences
from bot.core.speech import Speaker
from inference.joining import resolve_join_running
from inference.model import load_engine
from inference.model_facts import load_model_facts
from inference.queue import ModelFacts
from inference.redis_queue import RedisQueue
from inference.stream_worker import StreamWorker
from inference.streams import StreamNames
from inference.types import Engine, GenerationOptions
from inference.worker import InferenceWorker
from storage import Store

if TYPE_CHECKING:
    from bot.api.server import ApiServer

log = logging.getLogger(__name__)


#: The chat platforms `blipbot run` starts, each when its token is configured. (The terminal is
#: `blipbot describe` and `blipbot chat`: it runs on its own, not beside these.)
class Adapter(Protocol):
    """A running platform connection. `start` returns once it is receiving messages."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def deliver_late(self, chat: ChatRef, reply: Reply, reply_to: str | None) -> None:
        """Send a reply outside any update (owed by a front end that died)."""
        ...


def service_options(settings: Settings) -> ServiceOptions:
    """The core's knobs, read from the validated config."""
    inf = settings.inference
    acc = settings.accessibility
    common = {
        "repetition_penalty": inf.repetition_penalty,
        "length_penalty": inf.length_penalty,
        "use_nucleus_sampling": inf.use_nucleus_sampling,
        "temperature": inf.temperature,
        "min_new_tokens": inf.min_new_tokens,
    }
    return ServiceOptions(
        caption_options=GenerationOptions(
            num_beams=inf.caption_beams, max_new_tokens=inf.caption_max_new_tokens, **common
        ),
        answer_options=GenerationOptions(
            num_beams=inf.answer_beams, max_new_tokens=inf.answer_max_new_tokens, **common
        ),
        caption_prefix=inf.caption_prefix,
        max_image_bytes=settings.limits.max_image_bytes,
        max_image_pixels=settings.limits.max_image_pixels,
        photos_per_minute=settings.limits.photos_per_minute,
        request_timeout_s=inf.request_timeout_s,
        retention_days=settings.storage.retention_days,
        preferences=Preferences(
            detail=acc.detail,
            voice=acc.voice,
            ocr_language=acc.ocr_language,
            alt_text_chars=acc.alt_text_chars,
            codes=acc.codes,
            light_hints=acc.light_hints,
            colours=acc.colours,
        ),
        low_confidence_logprob=acc.low_confidence_logprob,
    )


def speaker(settings: Settings) -> Speaker:
    acc = settings.accessibility
    return Speaker(
        voice=acc.speech_voice,
        rate_wpm=acc.speech_rate_wpm,
        max_chars_per_note=acc.speech_max_chars_per_note,
        max_notes=acc.speech_max_notes,
    )


async def load_configured_engine(settings: Settings) -> Engine:
    """The configured model, loaded in a thread (a first start downloads it, with progress bars)."""
    inf = settings.inference
    started = time.perf_counter()
    engine = await asyncio.to_thread(
        load_engine,
        inf.model,
        device=inf.device,
        precision=inf.precision,
        caption_prefix=inf.caption_prefix,
        embedding_cache_mb=inf.embedding_cache_mb,
        kv_cache_tokens=inf.kv_cache_tokens,
    )
    log.info("model ready in %.1f s", time.perf_counter() - started)
    return engine


@contextlib.asynccontextmanager
async def running_service(
    settings: Settings, *, engine: Engine | None = None, retention: bool = True
) -> AsyncIterator[ChatService]:
    """Build the whole core, yield the service, and shut it down in reverse order.

    With `queue.url` empty the model loads here and the in-process worker owns it; with a Redis
    URL this process is a front end: no model, jobs to the workers over Redis Streams. On exit
    the queue finishes or hands back what it holds before the store closes, so nothing is lost.
    """
    try:
        store = await Store.open(settings.storage.url.get_secret_value())
    except (OSError, SQLAlchemyError) as error:
        raise StartupError(f"cannot open the database in storage.url: {short_reason(error)}") from None
    retention_task: asyncio.Task[None] | None = None
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        if settings.queue.url:
            queue = await stack.enter_async_context(networked_queue(settings, store, engine))
            service = ChatService(
                store,
                queue,
                service_options(settings),
                speaker=speaker(settings),
                ledger=store.ledger,
                frontend_id=queue.frontend_id,
                is_alive=queue.is_alive,
            )
        else:
            worker = await stack.enter_async_context(in_process_worker(settings, engine))
            service = ChatService(store, worker, service_options(settings), speaker=speaker(settings))
        if retention:  # purges now, then every purge_interval_hours
            interval_s = settings.storage.purge_interval_hours * 3600
            retention_task = asyncio.create_task(service.run_retention(interval_s), name="blipbot-retention")
            stack.push_async_callback(_cancelled, retention_task)
        else:  # the terminal commands run no periodic task: purge once at start
            await service.purge_expired()
        yield service


@contextlib.asynccontextmanager
async def in_process_worker(settings: Settings, engine: Engine | None) -> AsyncIterator[InferenceWorker]:
    """The model loaded here, owned by one worker task; on exit it answers what is queued first."""
    if engine is None:
        engine = await load_configured_engine(settings)
    inf = settings.inference
    worker = InferenceWorker(
        engine,
        queue_size=inf.queue_size,
        max_batch_size=inf.max_batch_size,
        batch_wait_ms=inf.batch_wait_ms,
        join_running=resolve_join_running(
            inf.join_running, getattr(getattr(engine, "device", None), "type", None)
        ),
    )
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop(drain=True)


@contextlib.asynccontextmanager
async def networked_queue(
    settings: Settings, store: Store, model: ModelFacts | None
) -> AsyncIterator[RedisQueue]:
    """A front end's queue: Redis Streams out, answers back; the model's tokenizer only, no weights."""
    if model is None:
        model = await asyncio.to_thread(load_model_facts, settings.inference.model)
    redis = Redis.from_url(settings.queue.url)
    queue = RedisQueue(
        redis,
        StreamNames(settings.queue.name),
        model,
        queue_size=settings.inference.queue_size,
        fetch_results=store.ledger.results,
    )
    try:
        await queue.start()
    except RedisError as error:
        await redis.aclose()
        raise StartupError(f"cannot reach the queue in queue.url: {short_reason(error)}") from None
    log.info("front end %s: jobs go to %s over Redis Streams", queue.frontend_id, settings.queue.name)
    try:
        yield queue
    finally:
        await queue.stop()
        await redis.aclose()


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def build_adapters(settings: Settings, service: ChatService) -> list[Adapter]:
    """An adapter for each configured platform, in `PLATFORMS` order."""
    adapters = [PLATFORMS[name].build_adapter(settings, service) for name in configured_platforms(settings)]
    return [adapter for adapter in adapters if adapter is not None]


def api_server(settings: Settings, service: ChatService) -> ApiServer:
    """The HTTP API and the web page over the running service (`blipbot serve`, or `run` with api.enabled)."""
    from bot.api.server import ApiServer  # FastAPI and uvicorn load only when the API runs
    from bot.web.routes import mount_page

    server = ApiServer(
        settings.api,
        service,
        model=settings.inference.model,
        max_image_bytes=settings.limits.max_image_bytes,
        stop_timeout_s=settings.inference.request_timeout_s,
    )
    if settings.web.enabled:  # the page at / on the same server
        mount_page(server.app, settings.web, service, max_upload_bytes=settings.limits.max_image_bytes)
    return server


async def run_api(settings: Settings, *, stop_event: asyncio.Event | None = None) -> int:
    """`blipbot serve`: the HTTP API alone, until SIGINT or SIGTERM."""
    from bot.api.server import check_api_config

    check_api_config(settings.api)  # before the model loads
    stop_event = stop_event or asyncio.Event()
    _stop_on_signals(stop_event)
    await _log_features(settings, loads_model=not settings.queue.url)
    async with running_service(settings) as service:
        server = api_server(settings, service)
        await server.start()
        try:
            await stop_event.wait()
            log.info("stopping")
        finally:
            await server.stop()
    return 0


async def run_bots(settings: Settings, *, stop_event: asyncio.Event | None = None) -> int:
    if nothing_to_run(settings):
        print(NOTHING_CONFIGURED, file=sys.stderr)
        return 2
    if settings.api.enabled:
        from bot.api.server import check_api_config

        check_api_config(settings.api)
    stop_event = stop_event or asyncio.Event()
    _stop_on_signals(stop_event)
    await _log_features(settings, loads_model=not settings.queue.url)
    async with running_service(settings) as service, contextlib.AsyncExitStack() as api_stack:
        if settings.api.enabled:
            server = api_server(settings, service)
            await server.start()
            api_stack.push_async_callback(server.stop)
        adapters = build_adapters(settings, service)
        started: list[Adapter] = []
        try:
            for adapter in adapters:
                try:
                    await adapter.start()
                except ConfigError:
                    raise
                except Exception as error:  # network down, server refusing: one line, not a traceback
                    secrets = [
                        t.get_secret_value() for t in (settings.telegram.token, settings.discord.token) if t
                    ]
                    raise StartupError(
                        f"{adapter.name} could not start: {short_reason(error, *secrets)}"
                    ) from None
                started.append(adapter)
                log.info("%s adapter started", adapter.name)
            late = None
            if service.late_replies is not None:  # what front ends that died still owed
                deliverers = {adapter.name: adapter.deliver_late for adapter in started}
                late = asyncio.create_task(service.late_replies.run(deliverers), name="blipbot-late-replies")
            await stop_event.wait()
            log.info("stopping")
            if late is not None:
                await _cancelled(late)
        finally:
            for adapter in reversed(started):
                try:
                    await adapter.stop()
                except Exception:
                    log.exception("%s adapter did not stop cleanly", adapter.name)
    return 0


async def run_worker(settings: Settings, *, stop_event: asyncio.Event | None = None) -> int:
    """`blipbot worker`: load the model and answer jobs from Redis Streams until SIGTERM.

    The batch in hand when the signal comes is finished, stored and acknowledged before exit.
    """
    if not settings.queue.url:
        print("blipbot: blipbot worker needs queue.url (BLIPBOT_QUEUE__URL), e.g. redis://127.0.0.1:6379/0",
              file=sys.stderr)  # fmt: skip
        return 2
    stop_event = stop_event or asyncio.Event()
    _stop_on_signals(stop_event)
    await _log_features(settings, loads_model=True)
    try:
        store = await Store.open(settings.storage.url.get_secret_value())
    except (OSError, SQLAlchemyError) as error:
        raise StartupError(f"cannot open the database in storage.url: {short_reason(error)}") from None
    redis = Redis.from_url(settings.queue.url)
    try:
        async with in_process_worker(settings, None) as worker:
            limits = settings.limits
            stream_worker = StreamWorker(
                redis,
                StreamNames(settings.queue.name),
                worker,
                load_photo=store.ledger.photo_data,
                prepare=lambda data: (
                    prepare_image(
                        data, max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels
                    ).model_image
                ),
                save_results=store.ledger.save_results,
                claim_idle_ms=settings.queue.claim_idle_ms,
                max_deliveries=settings.queue.max_deliveries,
            )
            log.info("worker %s answers jobs from %s", stream_worker.worker_id, settings.queue.name)
            await stream_worker.run(stop_event)
            log.info("worker %s stopped after %d batches", stream_worker.worker_id, stream_worker.batches)
    finally:
        await redis.aclose()
        await store.close()
    return 0


async def _log_features(settings: Settings, *, loads_model: bool) -> None:
    """One line of what this start offers (OCR, voice, device, queue, store), before anything loads."""
    log.info("%s", await asyncio.to_thread(startup_report, settings, loads_model=loads_model))


def _stop_on_signals(stop_event: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread (tests)
            loop.add_signal_handler(signum, stop_event.set)
