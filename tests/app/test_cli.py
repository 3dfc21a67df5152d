"""The `blipbot` command as a user runs it: a real process, a saved tiny model, files on disk."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import yaml

from bot.app.config import Settings, load_settings
from tests.fakes import photos
from tests.fakes.services import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


def blipbot(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BLIPBOT_")}
    environment.update(PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "bot.app.cli", *args],
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
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("blipbot: "), result.stderr


def test_a_bad_photo_is_refused_before_the_model_loads(workdir):
    result = blipbot("describe", "broken.jpg", "--model", str(workdir / "no-such-model"), cwd=workdir)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "blipbot: That picture seems to be damaged or cut off, so I could not read it. Please send it again."
    )


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


@pytest.mark.parametrize(
    ("env", "files", "words"),
    [
        ({"BLIPBOT_TELEGRAM__ALLOWED_CHATS": "1,2"}, {}, "lists are written in JSON"),
        ({"BLIPBOT_STORAGE__URL": "mysql://user:pw@db/blip"}, {}, "storage.url: only sqlite and postgresql"),
        ({}, {"config.yaml": "- inference\n"}, "must hold sections"),
        ({}, {"config.yaml": "inference: [\n"}, "not valid YAML at line"),
    ],
    ids=["env-list-not-json", "unsupported-database", "yaml-list", "yaml-syntax"],
)
def test_every_kind_of_bad_config_is_one_line_and_exit_2(workdir, env, files, words):
    for name, text in files.items():
        (workdir / name).write_text(text)
    result = blipbot("describe", "photo.jpg", cwd=workdir, env=env)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert words in line and "pw" not in line


def test_an_unreachable_database_is_one_line_and_exit_1(workdir, tiny_blip2_dir):
    url = "postgresql+asyncpg://blip:secret-pw@127.0.0.1:9/blipbot"  # port 9: nothing listens
    result = blipbot("describe", "photo.jpg", "--model", str(tiny_blip2_dir), cwd=workdir,
                     env={"BLIPBOT_STORAGE__URL": url})  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("blipbot: cannot open the database in storage.url") and "secret-pw" not in line


def test_run_without_any_token_stops_with_a_clear_message(workdir):
    result = blipbot("run", cwd=workdir)
    assert result.returncode == 2
    assert "telegram.token" in result.stderr and "Traceback" not in result.stderr


def test_version():
    result = blipbot("--version", cwd=ROOT)
    assert result.returncode == 0 and result.stdout.startswith("blipbot ")


def test_chat_runs_as_a_program_and_stores_its_questions(workdir, tiny_blip2_dir):
    result = blipbot(
        "chat", "photo.jpg", "--model", str(tiny_blip2_dir), cwd=workdir, stdin="is it red?\n/quit\n"
    )
    assert result.returncode == 0, result.stderr
    assert "Ask a question about the photo" in result.stdout
    with sqlite3.connect(workdir / "data" / "blipbot.sqlite3") as db:
        rows = db.execute("SELECT kind, question FROM turns ORDER BY id").fetchall()
    assert [kind for kind, _ in rows][-1] == "question" and rows[-1][1] == "is it red?"


def test_config_yaml_documents_every_key_with_its_default():
    documented = yaml.safe_load((ROOT / "config.yaml").read_text())
    settings = Settings()
    defaults = settings.model_dump(mode="json")
    defaults["storage"]["url"] = settings.storage.url.get_secret_value()  # a secret type dumps masked
    assert documented == defaults


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    (tmp_path / "c.yaml").write_text("inference:\n  max_batch_size: 7\n  model: from-file\n")
    monkeypatch.setenv("BLIPBOT_INFERENCE__MAX_BATCH_SIZE", "9")
    monkeypatch.setenv("BLIPBOT_TELEGRAM__TOKEN", "123:abc")
    settings = load_settings(tmp_path / "c.yaml")
    assert (settings.inference.model, settings.inference.max_batch_size) == ("from-file", 9)
    assert str(settings.telegram.token) == "**********"


def test_worker_and_queue_need_a_queue_url_and_say_so_in_one_line(workdir):
    for command in (["worker"], ["queue"]):
        result = blipbot(*command, cwd=workdir)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "queue.url" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_redis_url_that_is_not_one_is_a_config_error(workdir):
    result = blipbot("run", cwd=workdir, env={"BLIPBOT_QUEUE__URL": "http://localhost:6379"})
    assert result.returncode == 2
    assert "queue.url" in result.stderr and "Traceback" not in result.stderr


def test_queue_shows_the_streams_and_puts_dead_letters_back(workdir):
    prefix = f"cli-{os.getpid()}"
    env = {"BLIPBOT_QUEUE__URL": REDIS_URL, "BLIPBOT_QUEUE__NAME": prefix}
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.xadd(f"{prefix}:jobs", {"job": "j1", "photo": "1"})
        client.xgroup_create(f"{prefix}:jobs", f"{prefix}:workers", id="0")
        client.xadd(f"{prefix}:dead", {"job": "j2", "photo": "2", "from": f"{prefix}:jobs"})
        status = blipbot("queue", cwd=workdir, env=env)
        assert status.returncode == 0, status.stderr
        assert f"{prefix}:jobs: length 1, waiting 1, pending 0" in status.stdout
        assert f"{prefix}:dead: 1 dead letters" in status.stdout and "job j2 photo 2" in status.stdout
        retried = blipbot("queue", "retry", cwd=workdir, env=env)
        assert retried.returncode == 0, retried.stderr
        assert "1 dead letters put back" in retried.stdout
        assert client.xlen(f"{prefix}:dead") == 0 and client.xlen(f"{prefix}:jobs") == 2
    finally:
        client.delete(f"{prefix}:jobs", f"{prefix}:dead")
        client.close()


def test_run_with_nothing_configured_says_what_to_set_before_loading_any_model_code(workdir):
    probe = (
        "import sys; from bot.app.cli import main; status = main(['run']); "
        "print(status, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BLIPBOT_")}
    environment["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-c", probe]
    result = subprocess.run(command, cwd=workdir, env=environment, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["2", "False", "False"]
    assert result.stderr.strip().startswith("blipbot: no chat platform is configured. Set telegram.token")
