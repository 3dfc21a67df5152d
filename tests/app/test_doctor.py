"""`blipbot doctor` as a user runs it: a real process against real services and a fake Telegram.

A healthy setup (PostgreSQL, Redis, the tiny model, Tesseract, espeak-ng and ffmpeg, a token the
fake Bot API accepts) passes; then each test breaks one part and expects exactly that line to
fail, with a non-zero exit and no secret printed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage import Store
from tests.fakes.services import REDIS_URL
from tests.fakes.telegram_api import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(ok|FAILED|skip) +(\w+): (.*)$")
DOCTOR_TIMEOUT_S = 180


@dataclass
class Doctor:
    """What one `blipbot doctor` run printed: each check's status and sentence, by name."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> dict[str, tuple[str, str]]:
        found = (LINE.match(line) for line in self.stdout.splitlines())
        return {m[2]: (m[1], m[3]) for m in found if m}

    @property
    def failed(self) -> list[str]:
        return [name for name, (status, _) in self.lines.items() if status == "FAILED"]


async def doctor(cwd: Path, env: dict[str, str]) -> Doctor:
    """`python -m bot.app.cli doctor` with `env` over a copy of this environment minus BLIPBOT_*."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BLIPBOT_")}
    environment.update(PYTHONPATH=str(ROOT), **env)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.app.cli", "doctor", cwd=cwd, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), DOCTOR_TIMEOUT_S)
    assert process.returncode is not None
    return Doctor(process.returncode, out.decode(), err.decode())


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def healthy(postgresql_url: str, tg: FakeTelegram, tiny_blip2_dir: Path) -> dict[str, str]:
    """The environment of a working setup: a migrated database, Redis, the tiny model, a good token."""
    store = await Store.open(postgresql_url)
    await store.close()
    return {
        "BLIPBOT_STORAGE__URL": postgresql_url,
        "BLIPBOT_QUEUE__URL": REDIS_URL,
        "BLIPBOT_QUEUE__NAME": f"doctor-{uuid.uuid4().hex[:8]}",
        "BLIPBOT_INFERENCE__MODEL": str(tiny_blip2_dir),
        "BLIPBOT_INFERENCE__DEVICE": "cpu",
        "BLIPBOT_TELEGRAM__TOKEN": tg.token,
        "BLIPBOT_TELEGRAM__BASE_URL": tg.base_url,
        "BLIPBOT_TELEGRAM__BASE_FILE_URL": tg.base_file_url,
    }


async def test_a_healthy_setup_passes(healthy: dict[str, str], tmp_path: Path) -> None:
    result = await doctor(tmp_path, healthy)

    assert result.returncode == 0, result.stdout + result.stderr
    statuses = {name: status for name, (status, _) in result.lines.items()}
    assert statuses == {
        "config": "ok", "store": "ok", "queue": "ok", "model": "ok", "ocr": "ok", "speech": "ok",
        "telegram": "ok", "discord": "skip", "api": "skip",
    }  # fmt: skip
    database = make_url(healthy["BLIPBOT_STORAGE__URL"]).database
    assert result.lines["store"][1] == f"PostgreSQL at 127.0.0.1:5432/{database}, migrated (version 0004)"
    assert result.lines["queue"][1].startswith("Redis at 127.0.0.1:6379/0 (version ")
    assert (
        result.lines["telegram"][1]
        == "the token is accepted: @blipbot_test_bot, receiving updates by polling"
    )
    assert result.stdout.splitlines()[-1] == "all 9 checks passed"
    assert "Traceback" not in result.stderr


async def test_a_refused_telegram_token_is_named(healthy: dict[str, str], tmp_path: Path) -> None:
    wrong = "123456:NOT-THE-TOKEN"
    result = await doctor(tmp_path, {**healthy, "BLIPBOT_TELEGRAM__TOKEN": wrong})

    assert result.returncode == 1
    assert result.failed == ["telegram"]
    assert result.lines["telegram"][1] == (
        "the Telegram token was refused. Get a new one from @BotFather (/token) and set telegram.token."
    )
    assert "NOT-THE-TOKEN" not in result.stdout + result.stderr


async def test_an_unreachable_store_is_named_without_its_password(
    healthy: dict[str, str], tmp_path: Path
) -> None:
    url = "postgresql+asyncpg://blip:secret-pw@127.0.0.1:1/blipbot"  # port 1: nothing listens
    result = await doctor(tmp_path, {**healthy, "BLIPBOT_STORAGE__URL": url})

    assert result.returncode == 1
    assert result.failed == ["store"]
    sentence = result.lines["store"][1]
    assert sentence.startswith("cannot connect to PostgreSQL at 127.0.0.1:1/blipbot (")
    assert sentence.endswith("). Start PostgreSQL, or fix storage.url.")
    assert "secret-pw" not in result.stdout + result.stderr


async def test_a_missing_tesseract_is_named(healthy: dict[str, str], tmp_path: Path) -> None:
    tools = tmp_path / "bin"  # a PATH with the speech tools and nothing else
    tools.mkdir()
    for tool in ("espeak-ng", "ffmpeg"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed for this test"
        (tools / tool).symlink_to(found)

    result = await doctor(tmp_path, {**healthy, "PATH": str(tools)})

    assert result.returncode == 1
    assert result.failed == ["ocr"]
    assert result.lines["ocr"][1].startswith("tesseract is not installed (not found on PATH)")
    assert "apt install tesseract-ocr" in result.lines["ocr"][1]


async def test_a_missing_model_directory_is_named(healthy: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "models" / "blip2"
    result = await doctor(tmp_path, {**healthy, "BLIPBOT_INFERENCE__MODEL": str(missing)})

    assert result.returncode == 1
    assert result.failed == ["model"]
    assert result.lines["model"][1].startswith(f"no model directory at {missing}. Fix inference.model")


async def test_a_bad_config_is_its_own_failed_line_and_exit_2(tmp_path: Path) -> None:
    result = await doctor(tmp_path, {"BLIPBOT_INFERENCE__DEVICE": "gpu"})

    assert result.returncode == 2
    assert result.failed == ["config"]
    assert "inference.device" in result.lines["config"][1]
