"""What this machine and config offer, in words: the line `blipbot run` logs at start, and doctor's.

Every probe here is quick and offline (a PATH lookup, a URL parsed, torch asked for a GPU), so
the runner logs them before the model loads; `blipbot doctor` (bot/app/checks.py) goes on to
connect and try. Places are named without user names or passwords.
"""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import pytesseract
from sqlalchemy.engine import URL, make_url

from bot.app.config import Settings
from inference.loading import ModelLoadError, resolve_device
from inference.memory import device_label, precision_on
from inference.ocr import installed_languages
from storage.engine import sqlite_file

#: What voice notes are made with (bot/core/speech.py).
SPEECH_TOOLS = ("espeak-ng", "ffmpeg")
POSTGRES_DEFAULT_PORT = 5432
REDIS_DEFAULT_PORT = 6379


def store_place(url: str | URL) -> str:
    """'SQLite file data/blipbot.sqlite3' or 'PostgreSQL at db:5432/blipbot'."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is not None:
            return f"SQLite file {path}"
        return (
            "SQLite in memory" if parsed.database in (None, "", ":memory:") else f"SQLite {parsed.database}"
        )
    port = parsed.port or POSTGRES_DEFAULT_PORT
    return f"PostgreSQL at {parsed.host or 'localhost'}:{port}/{parsed.database or ''}"


def queue_place(url: str) -> str:
    """'in-process' (queue.url empty) or 'Redis at host:6379/0'."""
    if not url:
        return "in-process"
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"Redis at socket {parts.path}"
    try:
        port = parts.port or REDIS_DEFAULT_PORT
    except ValueError:  # not a number: connecting will say so
        return "Redis at queue.url"
    tls = " (TLS)" if parts.scheme == "rediss" else ""
    return f"Redis{tls} at {parts.hostname or 'localhost'}:{port}/{parts.path.strip('/') or '0'}"


def tesseract_found() -> bool:
    """Whether the Tesseract that `inference.ocr` runs (pytesseract's command) is on PATH."""
    return shutil.which(pytesseract.pytesseract.tesseract_cmd) is not None


def missing_speech_tools() -> list[str]:
    return [tool for tool in SPEECH_TOOLS if shutil.which(tool) is None]


def ocr_feature(default_language: str) -> str:
    """'OCR on (eng, deu; default eng)', or 'OCR off (...)' saying why."""
    if not tesseract_found():
        return "OCR off (tesseract not found)"
    languages = installed_languages()
    if not languages:
        return "OCR off (tesseract lists no languages)"
    missing = [part for part in default_language.split("+") if part not in languages]
    default = f"the default {default_language} is not installed" if missing else f"default {default_language}"
    return f"OCR on ({', '.join(languages)}; {default})"


def voice_feature() -> str:
    missing = missing_speech_tools()
    return f"voice off ({' and '.join(missing)} not found)" if missing else "voice on"


def model_feature(settings: Settings, *, loads_model: bool) -> str:
    """Where the model runs and in what precision, as the loader will choose (fp32 on a CPU)."""
    inf = settings.inference
    if not loads_model:
        return f"model {inf.model} on the workers"
    try:
        device = resolve_device(inf.device)
    except ModelLoadError as error:
        return f"model {inf.model}: {error}"
    return f"model {inf.model} on {device_label(device)} in {precision_on(device, inf.precision)}"


def startup_report(settings: Settings, *, loads_model: bool) -> str:
    """One line of what this start offers; blocking (asks Tesseract for its languages)."""
    features = [
        ocr_feature(settings.accessibility.ocr_language),
        voice_feature(),
        model_feature(settings, loads_model=loads_model),
        f"queue {queue_place(settings.queue.url)}",
        f"store {store_place(settings.storage.url.get_secret_value())}",
    ]
    return f"features: {'; '.join(features)}"
