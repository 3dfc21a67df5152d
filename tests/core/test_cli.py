"""The `blipbot` command as a user runs it: a real process, a saved tiny model, files on disk."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config import Settings, load_settings
from tests.core import photos

ROOT = Path(__file__).resolve().parents[2]


def blipbot(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BLIPBOT_")}
    environment.update(PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd, env=environment, input=stdin, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "photo.jpg").write_bytes(photos.jpeg())
    (tmp_path / "broken.jpg").write_bytes(photos.truncated_jpeg())
    (tmp_path / "notes.jpg").write_bytes(photos.TEXT_FILE_NAMED_JPG)
    return tmp_path


def test_describe_prints_a_non_empty_reply_and_stores_it(workdir, tiny_blip2_dir):
    result = blipbot("describe", "photo.jpg", "--model", str(tiny_blip2_dir), cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr
    assert (workdir / "data" / "blipbot.sqlite3").is_file(), "the default store is a SQLite file under ./data"


@pytest.mark.parametrize("name", ["broken.jpg", "notes.jpg", "missing.jpg"])
def test_an_unreadable_file_prints_one_line_and_exits_1(workdir, tiny_blip2_dir, name):
    result = blipbot("describe", name, "--model", str(tiny_blip2_dir), cwd=workdir)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("20", "WARNING"))]
    assert len(lines) == 1 and lines[0].startswith("blipbot: "), result.stderr


def test_a_bad_config_value_names_the_key_and_exits_2(workdir):
    result = blipbot("describe", "photo.jpg", cwd=workdir, env={"BLIPBOT_INFERENCE__DEVICE": "gpu"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "blipbot: invalid config value for inference.device: Input should be 'auto', 'cpu' or 'cuda'"
    ]


def test_a_secret_in_a_bad_config_is_never_echoed(workdir):
    (workdir / "bad.yaml").write_text("telegram:\n  token: 123:SECRET\n  mode: carrier-pigeon\n")
    result = blipbot("--config", "bad.yaml", "run", cwd=workdir)
    assert result.returncode == 2
    assert "telegram.mode" in result.stderr and "SECRET" not in result.stderr


def test_run_without_any_token_stops_with_a_clear_message(workdir):
    result = blipbot("run", cwd=workdir)
    assert result.returncode == 2
    assert "telegram.token" in result.stderr and "Traceback" not in result.stderr


def test_version():
    result = blipbot("--version", cwd=ROOT)
    assert result.returncode == 0 and result.stdout.startswith("blipbot ")


def test_chat_follow_ups_use_the_history_and_survive_a_restart(workdir, tiny_blip2_dir):
    first = blipbot("chat", "photo.jpg", "--model", str(tiny_blip2_dir), cwd=workdir, stdin="is it red?\n")
    assert first.returncode == 0, first.stderr
    second = blipbot("chat", "photo.jpg", "--model", str(tiny_blip2_dir), cwd=workdir, stdin="is it big?\n")
    assert second.returncode == 0, second.stderr
    import sqlite3

    with sqlite3.connect(workdir / "data" / "blipbot.sqlite3") as db:
        questions = [
            row[0] for row in db.execute("SELECT question FROM turns WHERE kind = 'question' ORDER BY id")
        ]
    assert questions == ["is it red?", "is it big?"]


def test_config_yaml_documents_every_key_with_its_default():
    documented = yaml.safe_load((ROOT / "config.yaml").read_text())
    defaults = Settings().model_dump(mode="json")
    assert documented == defaults


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    (tmp_path / "c.yaml").write_text("inference:\n  max_batch_size: 7\n  model: from-file\n")
    monkeypatch.setenv("BLIPBOT_INFERENCE__MAX_BATCH_SIZE", "9")
    monkeypatch.setenv("BLIPBOT_TELEGRAM__TOKEN", "123:abc")
    settings = load_settings(tmp_path / "c.yaml")
    assert (settings.inference.model, settings.inference.max_batch_size) == ("from-file", 9)
    assert str(settings.telegram.token) == "**********"
