"""Real `blipbot run` and `blipbot worker` processes for the scale-out tests, and how to watch them.

Each process is the installed command line (`python -m bot.app.cli`), configured only through the
environment, in an empty working folder (so the repository's config.yaml is not read), with one
torch thread so that two workers share this machine's cores fairly.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from redis.asyncio import Redis

from inference.streams import StreamNames
from tests.fakes.telegram_api import FakeTelegram

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
WORKER_ID = re.compile(r"worker (\w+) answers jobs")


@dataclass
class Deployment:
    """The settings every process of one test shares: the store, the queue and the model."""

    database_url: str
    redis_url: str
    names: StreamNames
    model_dir: Path
    workdir: Path
    extra: dict[str, str] = field(default_factory=dict)

    def env(self, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BLIPBOT_")}
        env.update(
            PYTHONPATH=str(REPO),
            PYTHONUNBUFFERED="1",
            OMP_NUM_THREADS="1",
            BLIPBOT_STORAGE__URL=self.database_url,
            BLIPBOT_QUEUE__URL=self.redis_url,
            BLIPBOT_QUEUE__NAME=self.names.prefix,
            BLIPBOT_QUEUE__CLAIM_IDLE_MS="1500",
            BLIPBOT_INFERENCE__MODEL=str(self.model_dir),
            BLIPBOT_INFERENCE__DEVICE="cpu",
            BLIPBOT_INFERENCE__BATCH_WAIT_MS="20",
            BLIPBOT_LIMITS__PHOTOS_PER_MINUTE="100",
            BLIPBOT_LOGGING__LEVEL="INFO",
        )
        env.update(self.extra)
        env.update(more)
        return env

    def start(self, command: str, log_name: str, **env: str) -> BlipbotProcess:
        log_path = self.workdir / f"{log_name}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.app.cli", command],
            cwd=self.workdir,
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return BlipbotProcess(process, log_path)

    def frontend(self, tg: FakeTelegram, log_name: str = "frontend") -> BlipbotProcess:
        return self.start(
            "run",
            log_name,
            BLIPBOT_TELEGRAM__TOKEN=tg.token,
            BLIPBOT_TELEGRAM__BASE_URL=tg.base_url,
            BLIPBOT_TELEGRAM__BASE_FILE_URL=tg.base_file_url,
        )


@dataclass
class BlipbotProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def worker_id(self, timeout: float = 180.0) -> str:
        """The id a `blipbot worker` logs once its model is loaded and it reads jobs."""
        try:
            found = await wait_until(lambda: WORKER_ID.search(self.log), timeout, "a worker id")
        except TimeoutError:
            raise TimeoutError(f"no worker id in {timeout:.0f} s; its log:\n{self.log}") from None
        return found.group(1)

    def kill(self) -> None:
        """kill -9: no cleanup, no goodbye, as a crash or an OOM kill."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, and its exit status once it has stopped.

        Waited for in a thread: the fake servers run on this event loop, and a process shutting
        down still talks to them (a blocked loop made its last sends time out and be retried).
        """
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.process.wait, timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


async def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        await asyncio.sleep(0.05)


async def pending_by_worker(redis: Redis, names: StreamNames) -> dict[str, int]:
    """How many jobs each worker holds unacknowledged on the shared stream."""
    try:
        summary = await redis.xpending(names.jobs, names.group)
    except Exception:
        return {}
    return {
        (c["name"].decode() if isinstance(c["name"], bytes) else c["name"]): int(c["pending"])
        for c in summary.get("consumers") or []
    }
