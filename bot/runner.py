"""`blipbot run` and the wiring under every command: config -> store -> model -> worker -> service.

Every adapter receives the one `ChatService` built by `running_service`, so all platforms share
one worker (one model on the device) and one store. The platforms are named in `PLATFORMS`: a
new front end is a new package with `is_configured(settings)` and `build_adapter(settings,
service)`, and one line there. SIGINT and SIGTERM stop the adapters first (no new messages),
then the worker finishes what is queued, then the store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from bot import discord, telegram
from bot.config import Settings
from bot.core import ChatService, ConfigError, ServiceOptions, StartupError
from bot.core.errors import short_reason
from bot.core.preferences import Preferences
from bot.core.speech import Speaker
from inference.model import load_engine
from inference.types import Engine, GenerationOptions
from inference.worker import InferenceWorker
from storage import Store

log = logging.getLogger(__name__)

#: The chat platforms `blipbot run` starts, each when its token is configured. (The terminal is
#: `blipbot describe` and `blipbot chat`: it runs on its own, not beside these.)
PLATFORMS: dict[str, ModuleType] = {"telegram": telegram, "discord": discord}


class Adapter(Protocol):
    """A running platform connection. `start` returns once it is receiving messages."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


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
    inf = settings.inference
    return await asyncio.to_thread(
        load_engine,
        inf.model,
        device=inf.device,
        precision=inf.precision,
        caption_prefix=inf.caption_prefix,
        embedding_cache_mb=inf.embedding_cache_mb,
    )


@contextlib.asynccontextmanager
async def running_service(
    settings: Settings, *, engine: Engine | None = None, retention: bool = True
) -> AsyncIterator[ChatService]:
    """Build the whole core, yield the service, and shut it down in reverse order.

    On exit the worker finishes the requests already queued before the store closes, so no
    answer is lost or half-written.
    """
    try:
        store = await Store.open(settings.storage.url)
    except (OSError, SQLAlchemyError) as error:
        raise StartupError(f"cannot open the database in storage.url: {short_reason(error)}") from None
    worker: InferenceWorker | None = None
    retention_task: asyncio.Task[None] | None = None
    try:
        if engine is None:
            engine = await load_configured_engine(settings)
        inf = settings.inference
        worker = InferenceWorker(
            engine,
            queue_size=inf.queue_size,
            max_batch_size=inf.max_batch_size,
            batch_wait_ms=inf.batch_wait_ms,
        )
        await worker.start()
        service = ChatService(store, worker, service_options(settings), speaker=speaker(settings))
        if retention:  # purges now, then every purge_interval_hours
            interval_s = settings.storage.purge_interval_hours * 3600
            retention_task = asyncio.create_task(service.run_retention(interval_s), name="blipbot-retention")
        else:  # the terminal commands run no periodic task: purge once at start
            await service.purge_expired()
        yield service
    finally:
        if retention_task is not None:
            retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention_task
        if worker is not None:
            await worker.stop(drain=True)
        await store.close()


def configured_platforms(settings: Settings) -> list[str]:
    """Platforms with a token, checked before the model loads so a bare start fails fast."""
    return [name for name, platform in PLATFORMS.items() if platform.is_configured(settings)]


def build_adapters(settings: Settings, service: ChatService) -> list[Adapter]:
    """An adapter for each configured platform, in `PLATFORMS` order."""
    adapters = [PLATFORMS[name].build_adapter(settings, service) for name in configured_platforms(settings)]
    return [adapter for adapter in adapters if adapter is not None]


async def run_bots(settings: Settings, *, stop_event: asyncio.Event | None = None) -> int:
    if not configured_platforms(settings):
        print(
            "blipbot: no chat platform is configured. Set telegram.token (BLIPBOT_TELEGRAM__TOKEN) "
            "or discord.token (BLIPBOT_DISCORD__TOKEN); see the README.",
            file=sys.stderr,
        )
        return 2
    stop_event = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread (tests)
            loop.add_signal_handler(signum, stop_event.set)
    async with running_service(settings) as service:
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
            await stop_event.wait()
            log.info("stopping")
        finally:
            for adapter in reversed(started):
                try:
                    await adapter.stop()
                except Exception:
                    log.exception("%s adapter did not stop cleanly", adapter.name)
    return 0
