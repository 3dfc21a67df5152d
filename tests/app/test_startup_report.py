"""The line `blipbot run` logs at start about what it offers, and the model's 'ready in N s'.

The probes are tried against this machine with PATH narrowed where a tool must look missing; the
whole start runs as a user's process, with a database password that must never appear.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import torch
from sqlalchemy.engine import make_url

from bot.app.config import Settings
from bot.app.features import (
    model_feature,
    ocr_feature,
    queue_place,
    startup_report,
    store_place,
    voice_feature,
)
from bot.app.logs import MASK
from tests.fakes.telegram_api import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120


@pytest.mark.parametrize(
    ("url", "place"),
    [
        ("sqlite+aiosqlite:///data/blipbot.sqlite3", "SQLite file data/blipbot.sqlite3"),
        ("sqlite+aiosqlite:///:memory:", "SQLite in memory"),
        ("postgresql+asyncpg://blip:pw-1234@db.internal/blipbot", "PostgreSQL at db.internal:5432/blipbot"),
        ("postgresql://blip:pw-1234@10.0.0.5:6543/bb", "PostgreSQL at 10.0.0.5:6543/bb"),
    ],
)
def test_the_store_is_named_without_user_or_password(url: str, place: str) -> None:
    assert store_place(url) == place


@pytest.mark.parametrize(
    ("url", "place"),
    [
        ("", "in-process"),
        ("redis://:pw-1234@redis.internal:6380/2", "Redis at redis.internal:6380/2"),
        ("rediss://user:pw-1234@cache/0", "Redis (TLS) at cache:6379/0"),
        ("redis://127.0.0.1", "Redis at 127.0.0.1:6379/0"),
        ("unix:///run/redis.sock", "Redis at socket /run/redis.sock"),
    ],
)
def test_the_queue_is_named_without_password(url: str, place: str) -> None:
    assert queue_place(url) == place


def test_ocr_says_its_languages_and_the_default() -> None:
    assert ocr_feature("eng") == "OCR on (eng; default eng)"
    assert ocr_feature("eng+xyz") == "OCR on (eng; the default eng+xyz is not installed)"


def test_missing_tools_turn_features_off_and_say_which(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is needed for this test"
    (tmp_path / "ffmpeg").symlink_to(ffmpeg)
    monkeypatch.setenv("PATH", str(tmp_path))

    assert ocr_feature("eng") == "OCR off (tesseract not found)"
    assert voice_feature() == "voice off (espeak-ng not found)"


def test_the_model_is_placed_as_the_loader_will(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(inference={"model": "m", "device": "cpu", "precision": "fp16"})
    assert model_feature(settings, loads_model=True) == "model m on cpu in fp32"
    assert model_feature(settings, loads_model=False) == "model m on the workers"

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    gpu = Settings(inference={"model": "m", "device": "auto", "precision": "fp16"})
    assert model_feature(gpu, loads_model=True) == "model m on cuda:0 in fp16"


def test_the_report_is_one_line_in_a_fixed_order() -> None:
    settings = Settings(inference={"model": "m", "device": "cpu"}, storage={"url": "sqlite:///b.db"})

    report = startup_report(settings, loads_model=True)

    assert report == (
        "features: OCR on (eng; default eng); voice on; model m on cpu in fp32; queue in-process; "
        "store SQLite file b.db"
    )


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


async def test_run_logs_its_features_and_the_model_load_time_without_secrets(
    tg: FakeTelegram, postgresql_url: str, tiny_blip2_dir: Path, tmp_path: Path
) -> None:
    password = "pw-never-shown-5521"  # the local server trusts every connection: any password works
    url = make_url(postgresql_url).set(password=password).render_as_string(hide_password=False)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BLIPBOT_")}
    environment.update(
        PYTHONPATH=str(ROOT),
        BLIPBOT_STORAGE__URL=url,
        BLIPBOT_INFERENCE__MODEL=str(tiny_blip2_dir),
        BLIPBOT_INFERENCE__DEVICE="cpu",
        BLIPBOT_TELEGRAM__TOKEN=tg.token,
        BLIPBOT_TELEGRAM__BASE_URL=tg.base_url,
        BLIPBOT_TELEGRAM__BASE_FILE_URL=tg.base_file_url,
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.app.cli", "run", cwd=tmp_path, env=environment,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while not any("receives updates by polling" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, "blipbot run ended before it started:\n" + "".join(lines)
                lines.append(line)
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), START_TIMEOUT_S)
    log = "".join(lines) + rest.decode()

    assert process.returncode == 0, log
    [features] = [line for line in lines if "features: " in line]
    database = make_url(postgresql_url).database
    assert features.rstrip().endswith(
        f"features: OCR on (eng; default eng); voice on; model {tiny_blip2_dir} on cpu in fp32; "
        f"queue in-process; store PostgreSQL at 127.0.0.1:5432/{database}"
    )
    assert MASK not in features  # the line never held the secret: the redaction had nothing to do
    assert any("model ready in " in line for line in lines)
    assert password not in log and tg.token not in log
