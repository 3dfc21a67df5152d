"""The Redis Streams layout shared by front ends and workers, and how jobs and results are written.

One shared job stream that any worker reads, a stream per worker for follow-ups about photos it
already holds, a results stream per front end, a dead-letter stream, and a channel that tells
every worker to forget a photo. Jobs carry the stored photo's id and the prompt, never its bytes.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from typing import Any

from inference.types import GenerationOptions, GenerationResult

#: Streams are trimmed to about this many entries: far above any backlog `queue_size` allows.
STREAM_MAXLEN = 100_000
#: A worker or front end whose heartbeat key is older than this is taken for dead.
HEARTBEAT_TTL_S = 10
HEARTBEAT_EVERY_S = 3.0
#: Waits between attempts to reach Redis again, the last one repeated.
RECONNECT_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True, slots=True)
class StreamNames:
    """Every Redis key of one deployment, under `queue.name` (default `blipbot`)."""

    prefix: str = "blipbot"

    @property
    def jobs(self) -> str:
        return f"{self.prefix}:jobs"

    @property
    def group(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def dead(self) -> str:
        return f"{self.prefix}:dead"

    @property
    def control(self) -> str:
        return f"{self.prefix}:control"

    @property
    def workers(self) -> str:
        """A set of every worker id that ever started (their own streams may hold jobs)."""
        return f"{self.prefix}:workers:known"

    @property
    def affinity(self) -> str:
        """A hash from a photo's content hash to the worker that holds its features."""
        return f"{self.prefix}:affinity"

    @property
    def waiting(self) -> str:
        """A sorted set of the people waiting (front end and chat), by when they started to wait."""
        return f"{self.prefix}:waiting"

    def worker_jobs(self, worker_id: str) -> str:
        return f"{self.prefix}:jobs:{worker_id}"

    def worker_alive(self, worker_id: str) -> str:
        return f"{self.prefix}:alive:worker:{worker_id}"

    def frontend_alive(self, frontend_id: str) -> str:
        return f"{self.prefix}:alive:frontend:{frontend_id}"

    def results(self, frontend_id: str) -> str:
        return f"{self.prefix}:results:{frontend_id}"


@dataclass(frozen=True, slots=True)
class StreamJob:
    """One generation request as it travels: ids, the photo by reference, the prompt and options."""

    job_id: str
    frontend: str
    photo_ref: int
    image_key: str
    prompt: str
    options: GenerationOptions
    order_key: str

    def fields(self) -> dict[str, str]:
        return {
            "job": self.job_id,
            "frontend": self.frontend,
            "photo": str(self.photo_ref),
            "key": self.image_key,
            "prompt": self.prompt,
            "options": json.dumps(asdict(self.options)),
            "order": self.order_key,
        }

    @classmethod
    def parse(cls, fields: dict[Any, Any]) -> StreamJob:
        """Read a job back from a stream entry; raises ValueError (or KeyError) for a malformed one."""
        text = {as_text(k): as_text(v) for k, v in fields.items()}
        return cls(
            job_id=text["job"],
            frontend=text["frontend"],
            photo_ref=int(text["photo"]),
            image_key=text["key"],
            prompt=text["prompt"],
            options=GenerationOptions(**json.loads(text["options"])),
            order_key=text["order"],
        )


#: What a result says when the job could not be answered (an apology follows, never a traceback).
FAILED = "failed"
DEAD = "dead-lettered"
PHOTO_GONE = "photo-gone"


def encode_result(result: GenerationResult | None, *, error: str | None = None, worker: str = "") -> str:
    """A result (or the reason there is none) as JSON: what the store keeps and the stream carries."""
    if result is None:
        return json.dumps({"error": error or FAILED, "worker": worker})
    return json.dumps({**asdict(result), "worker": worker})


def decode_result(payload: str) -> GenerationResult | str:
    """The result, or the error word when the job failed."""
    data = json.loads(payload)
    if "error" in data:
        return str(data["error"])
    data.pop("worker", None)
    # JSON has no tuples: the ids come back as a list (and are absent from older payloads).
    data["token_ids"] = tuple(data.get("token_ids", ()))
    return GenerationResult(**data)


def result_worker(payload: str) -> str:
    """Which worker answered (the bench's follow-up cache hit rate counts these)."""
    return str(json.loads(payload).get("worker", ""))


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that redis-py turned into a connection error.

    A cancellation that lands in a blocking read (XREAD, a pub/sub listen) can surface as a
    `ConnectionError`; a loop that retries on `RedisError` would swallow it and never stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def as_text(value: Any) -> str:
    """A Redis reply value as text (the client answers bytes unless told to decode)."""
    return value.decode() if isinstance(value, bytes) else str(value)
