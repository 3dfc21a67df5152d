"""N worker processes of `blipbot bench --workers N` over one Redis key prefix, from start to clean-up.

Each run gets a fresh prefix (`bench-<uuid>`) and fresh processes, so no cache or stream carries
over from one run to the next; `ready` returns once every worker has loaded the model, warmed
up and joined the queue, and the prefix's keys are deleted when the cluster stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from redis.asyncio import Redis

from inference.streams import StreamNames

T = TypeVar("T")

#: Loading `small` and warming up takes a few seconds a worker; `full` on a CPU takes minutes.
READY_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 30.0
ALIVE_CHECK_EVERY_S = 0.5
#: What a failed worker's error shows of its log.
LOG_TAIL_CHARS = 2000
#: Threading libraries read these at import: set before the child imports torch, not after.
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


class WorkerFailed(RuntimeError):
    """A worker process exited (or did not get ready in time), so the run cannot finish; says why."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """What every worker process of a bench is started with (the same for every run)."""

    model_dir: Path
    redis_url: str
    store_url: str
    device: str = "cpu"
    precision: str = "fp32"
    max_batch_size: int = 16
    batch_wait_ms: float = 5.0
    embedding_cache_mb: float = 256
    max_new_tokens: int = 10
    beams: int = 1

    def command(self, prefix: str) -> list[str]:
        return [
            sys.executable, "-m", "inference.bench.worker_process",
            "--model", str(self.model_dir),
            "--redis-url", self.redis_url,
            "--prefix", prefix,
            "--store-url", self.store_url,
            "--device", self.device,
            "--precision", self.precision,
            "--max-batch-size", str(self.max_batch_size),
            "--batch-wait-ms", str(self.batch_wait_ms),
            "--embedding-cache-mb", str(self.embedding_cache_mb),
            "--max-new-tokens", str(self.max_new_tokens),
            "--beams", str(self.beams),
        ]  # fmt: skip


class WorkerCluster:
    """Start with `start()`, wait with `ready()`, always `stop()` (kills stragglers, deletes keys)."""

    def __init__(self, redis: Redis, settings: WorkerSettings, count: int, log_dir: Path) -> None:
        """`log_dir` gets each worker's stdout and stderr (the bench's temporary directory)."""
        self.redis = redis
        self.settings = settings
        self.count = count
        self.names = StreamNames(f"bench-{uuid.uuid4().hex[:12]}")
        self.log_dir = log_dir
        self._processes: list[asyncio.subprocess.Process] = []
        self._logs: list[Path] = []

    async def start(self) -> None:
        """Spawn the processes (they load and warm up in parallel, one core each)."""
        environment = {**os.environ, **ONE_THREAD_ENV}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for index in range(self.count):
            log_path = self.log_dir / f"{self.names.prefix}-worker-{index}.log"
            self._logs.append(log_path)
            # A bare descriptor: the child keeps its copy, this process closes its own at once.
            log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                process = await asyncio.create_subprocess_exec(
                    *self.settings.command(self.names.prefix),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_fd,
                    stderr=log_fd,
                    env=environment,
                )
            finally:
                os.close(log_fd)
            self._processes.append(process)

    async def ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until every worker has joined the queue; `WorkerFailed` if one exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while await self.redis.scard(self.names.workers) < self.count:
            self.check_alive()
            if time.monotonic() > deadline:
                raise WorkerFailed(f"bench workers not ready after {timeout_s:.0f} s:\n{self.log_tail(0)}")
            await asyncio.sleep(0.1)

    async def while_alive(self, work: Awaitable[T]) -> T:
        """Await `work`, but fail fast (`WorkerFailed`) if a worker exits meanwhile.

        A worker that dies mid-run leaves its jobs pending, and with none left to claim them the
        crowd would wait forever.
        """
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=ALIVE_CHECK_EVERY_S)
                if not task.done():
                    self.check_alive()
            return task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def check_alive(self) -> None:
        """`WorkerFailed`, with the end of its log, for the first worker process that has exited."""
        for index, process in enumerate(self._processes):
            if process.returncode is not None:
                status = process.returncode
                raise WorkerFailed(
                    f"bench worker {index} exited with status {status}:\n{self.log_tail(index)}"
                )

    async def stop(self) -> None:
        """SIGTERM every worker (each finishes its batch), kill any that hangs, delete the prefix's keys."""
        for process in self._processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        keys = [key async for key in self.redis.scan_iter(f"{self.names.prefix}:*")]
        if keys:
            await self.redis.delete(*keys)

    def log_tail(self, index: int) -> str:
        """The end of a worker's log, for the error that says why it failed."""
        text = self._logs[index].read_text(errors="replace")
        return text[-LOG_TAIL_CHARS:]
