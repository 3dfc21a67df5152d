"""The crowd of `blipbot bench --workers N`, played through the networked queue as a front end would.

The same people as the in-process bench (`conversations.photos`, the same prompts and options),
but each photo is first stored as the JPEG a chat platform sends, so that the worker processes
load it by id, and every job's id is kept, so that the answers' stored payloads can say which
worker answered each turn (the follow-up cache hit rate).
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from dataclasses import dataclass, field

from inference.bench.conversations import Conversation, Run, serve_with_worker
from inference.blip2 import Blip2Engine
from inference.redis_queue import RedisQueue
from inference.streams import result_worker
from inference.types import GenerationOptions
from storage import Store

#: Telegram recompresses photos to JPEG of about this quality.
JPEG_QUALITY = 87


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """A person of the crowd, whose photo is in the store under `photo_ref`."""

    conversation: Conversation
    photo_ref: int


@dataclass(slots=True)
class CrowdRun:
    """What one run of the crowd produced: answers and latencies, and each person's job ids in turn order."""

    run: Run
    jobs: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Affinity:
    """Which worker answered what: answers per worker, and follow-ups answered by their photo's worker."""

    answers_per_worker: list[int]
    followups: int
    followup_hits: int

    @property
    def hit_rate(self) -> float | None:
        """The follow-up cache hit rate; None when nobody asked a follow-up."""
        return self.followup_hits / self.followups if self.followups else None


async def store_crowd(store: Store, conversations: list[Conversation]) -> list[StoredConversation]:
    """Store each person's photo in a chat of their own, keyed like the bot keys it (the JPEG's hash)."""
    stored = []
    for conversation in conversations:
        data = await asyncio.to_thread(_jpeg, conversation)
        chat = await store.chat_id("bench", f"user-{conversation.user}")
        width, height = conversation.photo.size
        image = await store.add_image(chat, data, "image/jpeg", width, height)
        keyed = Conversation(conversation.user, conversation.photo, image.content_hash)
        stored.append(StoredConversation(keyed, image.id))
    return stored


async def serve_crowd(
    queue: RedisQueue,
    engine: Blip2Engine,
    crowd: list[StoredConversation],
    followups: int,
    options: GenerationOptions,
) -> CrowdRun:
    """Every person at once through the networked queue, their job ids kept for the hit rate."""
    jobs: dict[int, list[str]] = {item.conversation.user: [] for item in crowd}
    run = await serve_with_worker(
        queue,
        engine,
        [item.conversation for item in crowd],
        followups,
        options,
        photo_refs={item.conversation.user: item.photo_ref for item in crowd},
        jobs=jobs,
    )
    return CrowdRun(run, jobs)


async def affinity(store: Store, crowd_run: CrowdRun) -> Affinity:
    """Read who answered each job from the stored payloads (workers store before they acknowledge).

    A follow-up is a hit when the worker that answered the person's first request answered it too:
    only that worker holds the photo's features and conversation prefix.
    """
    every_job = [job for jobs in crowd_run.jobs.values() for job in jobs]
    payloads = await store.ledger.results(every_job)
    answered_by = {job: result_worker(payload) for job, payload in payloads.items()}
    followups = hits = 0
    for first, *later in crowd_run.jobs.values():
        holder = answered_by.get(first)
        followups += len(later)
        hits += sum(1 for job in later if holder and answered_by.get(job) == holder)
    per_worker = Counter(answered_by.values())
    return Affinity(sorted(per_worker.values(), reverse=True), followups, hits)


def _jpeg(conversation: Conversation) -> bytes:
    buffer = io.BytesIO()
    conversation.photo.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()
