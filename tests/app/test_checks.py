"""Doctor's checks one by one, in this process: the states a user's process test does not reach.

Each check gets `Settings` built here and talks to the real thing (SQLite files, the local
Redis, FakeDiscord through discord.py, a socket held open) or finds a tool missing from PATH.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from transformers import Blip2Config, OPTConfig

from bot.app import doctor as doctor_module
from bot.app.checks import Finding, Status, check_model, check_queue, check_speech, check_store, failed, ok
from bot.app.config import Settings
from bot.app.doctor import check_api, check_discord, check_telegram, line, run_checks
from storage import Store
from tests.fakes.discord_api import FakeDiscord, patch_discord
from tests.fakes.services import REDIS_URL


def sqlite_settings(path: Path) -> Settings:
    return Settings(storage={"url": f"sqlite+aiosqlite:///{path}"})


async def test_a_migrated_sqlite_store_passes(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/b.sqlite3")
    await store.close()

    finding = await check_store(sqlite_settings(tmp_path / "b.sqlite3"))

    assert finding == ok(f"SQLite file {tmp_path}/b.sqlite3, migrated (version 0004)")


async def test_a_sqlite_file_not_made_yet_passes_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "data" / "b.sqlite3"

    finding = await check_store(sqlite_settings(path))

    assert finding == ok(f"SQLite file {path} does not exist yet; blipbot run creates it")
    assert not path.parent.exists()


async def test_a_database_behind_passes_with_the_migrations_to_come(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/b.sqlite3")
    async with store.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    await store.close()

    finding = await check_store(sqlite_settings(tmp_path / "b.sqlite3"))

    assert finding.status is Status.OK
    assert finding.sentence.endswith("2 migrations to apply (to version 0004); blipbot run applies them")


async def test_a_database_from_a_newer_blipbot_fails(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/b.sqlite3")
    async with store.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    await store.close()

    finding = await check_store(sqlite_settings(tmp_path / "b.sqlite3"))

    assert finding.status is Status.FAILED
    assert "schema version 0099, which this blipbot does not know" in finding.sentence


async def test_an_unreachable_redis_fails() -> None:
    finding = await check_queue(Settings(queue={"url": "redis://127.0.0.1:1/0"}))

    assert finding.status is Status.FAILED
    assert finding.sentence.startswith("cannot reach Redis at 127.0.0.1:1/0 (")
    assert finding.fix == "Start Redis, or fix queue.url."


async def test_redis_passes_and_leaves_no_key(redis, names) -> None:
    finding = await check_queue(Settings(queue={"url": REDIS_URL, "name": names.prefix}))

    assert finding.status is Status.OK and finding.sentence.endswith("streams work")
    assert [key async for key in redis.scan_iter(f"{names.prefix}:*")] == []


async def test_a_model_too_big_for_this_machine_fails_with_the_estimate(tmp_path: Path) -> None:
    text_config = OPTConfig(
        hidden_size=12288, word_embed_proj_dim=12288, ffn_dim=49152, num_hidden_layers=110,
        num_attention_heads=96,
    )  # fmt: skip
    Blip2Config(text_config=text_config.to_dict()).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")  # present; never read

    finding = await check_model(Settings(inference={"model": str(tmp_path), "device": "cpu"}))

    assert finding.status is Status.FAILED
    assert finding.sentence.startswith(f"{tmp_path} in fp32 needs about ")
    assert finding.sentence.endswith("Use a GPU (precision fp16, int8 or int4), or a smaller model.")


async def test_a_model_directory_without_weights_fails(tmp_path: Path, tiny_blip2_dir: Path) -> None:
    (tmp_path / "config.json").write_text((tiny_blip2_dir / "config.json").read_text())

    finding = await check_model(Settings(inference={"model": str(tmp_path)}))

    assert finding == failed(
        f"{tmp_path} holds no whole model (config.json and weights)",
        "Fix inference.model, or save a model there (its config.json and weights).",
    )


async def test_the_tiny_model_fits_and_says_where_it_runs(tiny_blip2_dir: Path) -> None:
    finding = await check_model(Settings(inference={"model": str(tiny_blip2_dir), "device": "cpu"}))

    assert finding.status is Status.OK
    assert finding.sentence.startswith(f"directory {tiny_blip2_dir}; ")
    assert " in fp32 on cpu, " in finding.sentence


async def test_missing_speech_tools_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    finding = await check_speech(Settings())

    assert finding == failed(
        "espeak-ng and ffmpeg not installed (not found on PATH), so /voice cannot speak answers",
        "Install them: apt install espeak-ng ffmpeg.",
    )


async def test_a_speech_tool_that_fails_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is needed for this test"
    (tmp_path / "espeak-ng").symlink_to(espeak)
    broken = tmp_path / "ffmpeg"
    broken.write_text("#!/bin/sh\necho 'Unknown encoder libopus' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    finding = await check_speech(Settings())

    assert finding == failed(
        "espeak-ng and ffmpeg could not make a voice note (ffmpeg failed: Unknown encoder libopus)",
        "Reinstall them; ffmpeg needs libopus.",
    )


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        with patch_discord(fake):
            yield fake


async def test_a_discord_token_is_tried_with_a_login(discord_fake: FakeDiscord) -> None:
    good = await check_discord(Settings(discord={"token": discord_fake.token}))
    bad = await check_discord(Settings(discord={"token": "not-the-token"}))

    assert good == ok("the token is accepted: logged in as blipbot")
    assert bad.status is Status.FAILED and bad.sentence == "the Discord token was refused"
    assert "developer portal" in bad.fix


async def test_platforms_without_a_token_are_skipped() -> None:
    assert (await check_telegram(Settings())).status is Status.SKIPPED
    assert (await check_discord(Settings())).status is Status.SKIPPED


async def test_the_api_port_in_use_fails_and_a_free_one_passes() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = Settings(api={"enabled": True, "tokens": ["t0k3n-abc"], "port": port})
        in_use = await check_api(settings)
    free = await check_api(settings)

    assert in_use.status is Status.FAILED and f"cannot listen on 127.0.0.1:{port}" in in_use.sentence
    assert free == ok(f"on 127.0.0.1:{port}, 1 token, with the web page at /")


async def test_a_check_that_hangs_or_breaks_is_a_failed_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor_module, "CHECK_TIMEOUT_S", 0.05)

    async def hangs(_settings: Settings) -> Finding:
        await asyncio.sleep(10)
        return ok("never")

    async def breaks(_settings: Settings) -> Finding:
        raise RuntimeError("boom")

    findings = await run_checks(Settings(), {"slow": hangs, "buggy": breaks})

    assert (
        line("slow", findings["slow"])
        == "FAILED slow: no answer within 0.05 s. Check the network and the service."
    )
    assert line("buggy", findings["buggy"]).startswith(
        "FAILED buggy: the check itself failed (RuntimeError: boom)"
    )


def test_lines_line_up() -> None:
    assert line("store", ok("fine")) == "ok     store: fine"
    assert line("api", Finding(Status.SKIPPED, "off")) == "skip   api: off"
    assert line("ocr", failed("gone", "Install it.")) == "FAILED ocr: gone. Install it."
