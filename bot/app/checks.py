"""`blipbot doctor`'s checks of this machine: the store, the queue, the model, OCR and speech.

Each check is an async function of the settings that tries the real thing the way `blipbot run`
would (connects, reads the schema version, makes a voice note) without changing anything, and
returns a `Finding`: ok, failed or skipped, one plain sentence, and on failure what to do.
"""

from __future__ import annotations

import asyncio
import enum
import os
import uuid
from dataclasses import dataclass

import pytesseract
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import Connection, NullPool
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app.config import Settings
from bot.app.features import missing_speech_tools, queue_place, store_place, tesseract_found
from bot.app.runner import speaker
from bot.core.errors import short_reason
from bot.core.speech import SpeechUnavailable
from inference.loading import (
    ModelLoadError,
    has_weights,
    local_model_dir,
    needs_download,
    read_config,
    resolve_placement,
)
from inference.memory import (
    available_memory,
    checkpoint_bytes,
    device_label,
    ensure_fits,
    gigabytes,
    memory_need,
)
from inference.ocr import installed_languages
from storage.engine import async_url, migrations_config, sqlite_file

#: How long a database may take to accept a connection.
CONNECT_TIMEOUT_S = 10


class Status(enum.Enum):
    OK = "ok"
    FAILED = "FAILED"
    SKIPPED = "skip"


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check found: `sentence` says what is there; `fix`, on failure, what to do."""

    status: Status
    sentence: str
    fix: str = ""


def ok(sentence: str) -> Finding:
    return Finding(Status.OK, sentence)


def failed(sentence: str, fix: str) -> Finding:
    return Finding(Status.FAILED, sentence, fix)


def skipped(sentence: str) -> Finding:
    return Finding(Status.SKIPPED, sentence)


async def check_store(settings: Settings) -> Finding:
    """Connects and compares the schema version with the newest migration (which `run` applies)."""
    url = async_url(settings.storage.url.get_secret_value())
    place = store_place(url)
    is_sqlite = url.get_backend_name() == "sqlite"
    fix = "Start PostgreSQL, or fix storage.url."
    if is_sqlite:
        fix = "Check the file and its folder's permissions, or fix storage.url."
    path = sqlite_file(url)
    if path is not None and not path.exists():
        folder = next(parent for parent in path.absolute().parents if parent.exists())
        if not os.access(folder, os.W_OK):
            return failed(f"{place} cannot be created: {folder} is not writable", fix)
        return ok(f"{place} does not exist yet; blipbot run creates it")
    connect_args = {} if is_sqlite else {"timeout": CONNECT_TIMEOUT_S}
    engine = create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(_schema_version)
    except (OSError, SQLAlchemyError, TimeoutError) as error:
        secret = url.password if isinstance(url.password, str) else ""
        return failed(f"cannot connect to {place} ({short_reason(error, secret)})", fix)
    finally:
        await engine.dispose()
    newest_first = [
        script.revision for script in ScriptDirectory.from_config(migrations_config()).walk_revisions()
    ]
    if current is not None and current not in newest_first:
        return failed(
            f"{place} is at schema version {current}, which this blipbot does not know",
            "A newer blipbot migrated it: upgrade this one, or point storage.url at another database.",
        )
    pending = newest_first.index(current) if current is not None else len(newest_first)
    if pending == 0:
        return ok(f"{place}, migrated (version {current})")
    migrations = f"{pending} migration{'s' if pending > 1 else ''}"
    return ok(f"{place}, {migrations} to apply (to version {newest_first[0]}); blipbot run applies them")


def _schema_version(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def check_queue(settings: Settings) -> Finding:
    """In-process needs nothing; Redis must answer PING and create a consumer group on a stream."""
    url = settings.queue.url
    place = queue_place(url)
    if not url:
        return ok("in-process (queue.url is empty): requests wait in the bot's own process")
    redis = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S)
    probe = f"{settings.queue.name}:doctor:{uuid.uuid4().hex}"  # a throwaway stream, deleted below
    try:
        await redis.ping()
        version = (await redis.info("server")).get("redis_version", "?")
        try:
            await redis.xgroup_create(probe, "doctor", id="$", mkstream=True)
        except ResponseError as error:
            return failed(
                f"{place} (Redis {version}) refused a stream consumer group ({short_reason(error)})",
                "blipbot needs Redis 5 or newer with the stream commands allowed.",
            )
        finally:
            await redis.delete(probe)
    except (RedisError, OSError) as error:
        return failed(f"cannot reach {place} ({short_reason(error)})", "Start Redis, or fix queue.url.")
    finally:
        await redis.aclose()
    return ok(f"{place} (version {version}), streams work")


async def check_model(settings: Settings) -> Finding:
    """Present or downloadable, a BLIP family, and fits the device (the estimate `run` checks)."""
    return await asyncio.to_thread(_model_finding, settings)


def _model_finding(settings: Settings) -> Finding:
    inf = settings.inference
    fix = "Fix inference.model, or save a model there (its config.json and weights)."
    folder = local_model_dir(inf.model)
    if folder is not None:
        if not folder.is_dir():
            return failed(f"no model directory at {inf.model}", fix)
        if not (folder / "config.json").is_file() or not has_weights(folder):
            return failed(f"{inf.model} holds no whole model (config.json and weights)", fix)
    try:
        config = read_config(inf.model)
    except ModelLoadError as error:
        return failed(str(error), "Check the network, or the model's name in inference.model.")
    if config.model_type not in ("blip-2", "blip"):
        return failed(f"{inf.model} is a {config.model_type!r} model, not BLIP-2 or BLIP", fix)
    language_model = getattr(getattr(config, "text_config", None), "model_type", "bert")
    try:
        placement = resolve_placement(inf.device, inf.precision, language_model_type=language_model)
        need = memory_need(inf.model, config, device=placement.device, precision=inf.precision)
    except ModelLoadError as error:
        return failed(str(error), "Set inference.device and inference.precision to what this machine has.")
    if folder is not None:
        source = f"directory {inf.model}"
    elif needs_download(inf.model):
        download = gigabytes(checkpoint_bytes(config, need.parameters))
        source = f"{inf.model}, not downloaded yet: the first start fetches about {download}"
    else:
        source = f"{inf.model}, in the Hugging Face cache"
    available = available_memory(need.device)
    try:
        ensure_fits(need, available)
    except ModelLoadError as error:
        if not settings.queue.url:
            return failed(str(error), "")  # the message ends with what to do
        return ok(f"{source}; loaded by the workers, not here (this machine could not hold it: {error})")
    free = f", {gigabytes(available)} available" if available is not None else ""
    return ok(
        f"{source}; {_count(need.parameters)} parameters, about {gigabytes(need.needed_bytes)} "
        f"in {need.precision} on {device_label(need.device)}{free}"
    )


def _count(parameters: int) -> str:
    return f"{parameters / 1e9:.1f} billion" if parameters >= 100e6 else f"{parameters / 1e6:.1f} million"


async def check_ocr(settings: Settings) -> Finding:
    """Tesseract on PATH, and the language pack accessibility.ocr_language names."""
    return await asyncio.to_thread(_ocr_finding, settings.accessibility.ocr_language)


def _ocr_finding(wanted: str) -> Finding:
    if not tesseract_found():
        return failed(
            "tesseract is not installed (not found on PATH), so /read cannot read the text in photos",
            "Install it: apt install tesseract-ocr (brew install tesseract on macOS).",
        )
    try:
        version = pytesseract.get_tesseract_version()
    except (OSError, pytesseract.TesseractError) as error:
        return failed(f"tesseract does not run ({short_reason(error)})", "Reinstall tesseract-ocr.")
    languages = installed_languages()
    missing = [part for part in wanted.split("+") if part not in languages]
    if missing:
        return failed(
            f"tesseract {version} has no {' and '.join(missing)} language pack, which "
            f"accessibility.ocr_language asks for (installed: {', '.join(languages) or 'none'})",
            f"Install it (apt install tesseract-ocr-{missing[0]}), or change accessibility.ocr_language.",
        )
    return ok(f"tesseract {version}, languages {', '.join(languages)} (default {wanted})")


async def check_speech(settings: Settings) -> Finding:
    """espeak-ng and ffmpeg on PATH, and a short voice note made the way replies make theirs."""
    missing = missing_speech_tools()
    if missing:
        return failed(
            f"{' and '.join(missing)} not installed (not found on PATH), so /voice cannot speak answers",
            f"Install {'them' if len(missing) > 1 else 'it'}: apt install {' '.join(missing)}.",
        )
    try:
        await speaker(settings).voice_notes("Hello.")
    except SpeechUnavailable as error:
        return failed(
            f"espeak-ng and ffmpeg could not make a voice note ({error})",
            "Reinstall them; ffmpeg needs libopus.",
        )
    # espeak-ng falls back to its default voice for a name it does not know: no error to catch.
    return ok(f"espeak-ng and ffmpeg make voice notes (voice {settings.accessibility.speech_voice})")
