"""Startup wiring: config -> store -> model -> worker -> service, and the matching shutdown.

Every adapter receives the one `ChatService` built here, so all platforms share one worker
(one model on the device) and one store. Loading the model is the slow step; it runs in a
thread so the event loop stays free while the weights load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.preferences import Preferences
from bot.service import ChatService, ServiceOptions
from bot.speech import Speaker
from inference.model import load_engine
from inference.types import Engine, GenerationOptions
from inference.worker import InferenceWorker
from storage import Store

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Something outside blipbot (database, network) stopped it from starting; said in one line."""


def short_reason(error: BaseException, *secrets: str) -> str:
    """The error's first line, without any of `secrets`, for a one-line message to the operator."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "**********")
    return text[:300]


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
        service = ChatService(store, worker, engine, service_options(settings), speaker=speaker(settings))
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
