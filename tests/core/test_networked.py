"""The core over the networked queue: the same replies, owed replies noted, and sent once if orphaned.

`ChatService` runs over `RedisQueue` against the real local Redis, with `StreamWorker`s in this
process answering from a scripted `FakeEngine`, and a SQLite store shared by both sides.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from bot.core import texts
from bot.core.preferences import Preferences
from bot.core.service import ChatService, ServiceOptions
from bot.core.types import ChatRef, Reply, ReplyKind
from inference.redis_queue import RedisQueue
from inference.streams import StreamNames
from storage import Store
from tests.fakes import photos
from tests.fakes.cluster import LocalCluster
from tests.fakes.engine import FakeEngine

ALICE = ChatRef("test", "chat-a", "alice")
BRIEF = ServiceOptions(request_timeout_s=10, preferences=Preferences(detail="brief"))


@pytest.fixture
async def side(redis: Redis, names: StreamNames, store: Store) -> AsyncIterator[LocalCluster]:
    side = LocalCluster(redis, names, store)
    yield side
    await side.close()


async def owed(store: Store) -> list[tuple[str, bool]]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(text("SELECT kind, delivered FROM pending_replies ORDER BY created_at"))
        return [(kind, bool(delivered)) for kind, delivered in rows]


async def test_a_photo_and_a_follow_up_are_answered_and_their_replies_closed(side, store):
    engine = FakeEngine()
    engine.enqueue("a red door", "blue")
    await side.worker(engine)
    service = await side.service(BRIEF)
    described = await service.describe_photo(ALICE, photos.jpeg())
    answered = await service.ask(ALICE, "what colour is it?")
    assert (described.text, answered.text) == ("A red door.", "Blue.")
    assert engine.prompts[-1] == "Question: what colour is it? Answer:"
    assert await owed(store) == [("describe", True), ("answer", True)]


async def test_a_job_that_keeps_failing_ends_in_an_apology(side, store):
    engine = FakeEngine()
    engine.fail_on = {"doomed"}
    await side.worker(engine, claim_idle_ms=200, max_deliveries=2)
    service = await side.service(BRIEF)
    await service.describe_photo(ALICE, photos.jpeg())
    reply = await service.ask(ALICE, "doomed question?")
    assert (reply.kind, reply.text) == (ReplyKind.ERROR, texts.FAILED)
    assert engine.prompts.count("Question: doomed question? Answer:") == 2, "tried max_deliveries times"


async def test_a_reply_owed_by_a_dead_front_end_is_sent_once_by_a_live_one(side, store, redis, names):
    engine = FakeEngine()
    engine.enqueue("a cat on a mat")
    first = await side.service(BRIEF)
    asking = asyncio.create_task(first.describe_photo(ALICE, photos.jpeg(), message_id="77"))
    for _ in range(100):
        if await owed(store):
            break
        await asyncio.sleep(0.02)
    assert await owed(store) == [("describe", False)]
    asking.cancel()  # the front end dies: its handler is gone, its heartbeat stops
    await side.queues[0].stop()
    await side.worker(engine)
    second = await side.service(BRIEF)
    sent: list[tuple[ChatRef, Reply, str | None]] = []

    async def deliver(chat: ChatRef, reply: Reply, reply_to: str | None) -> None:
        sent.append((chat, reply, reply_to))

    assert second.late_replies is not None
    for _ in range(100):
        await asyncio.sleep(0.05)
        if await second.late_replies.send_owed({"test": deliver}, grace_s=0):
            break
    assert [(c, r.text, to) for c, r, to in sent] == [(ALICE, "A cat on a mat.", "77")]
    assert await second.late_replies.send_owed({"test": deliver}, grace_s=0) == 0, "sent once"
    assert await owed(store) == [("describe", True)]


async def test_forget_deletes_what_the_queue_keeps_about_the_chat(side, store):
    await side.worker(FakeEngine())
    service = await side.service(BRIEF)
    await service.describe_photo(ALICE, photos.jpeg())
    assert await owed(store) != []
    await service.forget(ALICE)
    assert await owed(store) == []


async def test_an_unreachable_queue_says_busy(store):
    gone = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    queue = RedisQueue(gone, StreamNames("test-gone"), FakeEngine(), queue_size=10)
    service = ChatService(store, queue, BRIEF, ledger=store.ledger, frontend_id=queue.frontend_id)
    reply = await service.describe_photo(ALICE, photos.jpeg())
    assert (reply.kind, reply.text) == (ReplyKind.ERROR, texts.BUSY)
    await gone.aclose()


class PrivateRedis:
    """A redis-server of this test's own, on a free port, so it can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Redis.from_url(self.url)
        try:
            for _ in range(100):
                try:
                    await client.ping()
                    return
                except RedisError:
                    await asyncio.sleep(0.05)
            raise TimeoutError("redis-server did not start")
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
async def test_redis_stopped_then_started_again_means_busy_then_answers_again(store, tmp_path):
    server = PrivateRedis(tmp_path)
    await server.start()
    redis = Redis.from_url(server.url, socket_connect_timeout=0.5, socket_timeout=2)
    side = LocalCluster(redis, StreamNames("restart"), store)
    try:
        engine = FakeEngine()
        await side.worker(engine)
        service = await side.service(BRIEF)
        assert (await service.describe_photo(ALICE, photos.jpeg(seed=1))).kind is ReplyKind.ANSWER
        server.stop()
        down = await service.describe_photo(ALICE, photos.jpeg(seed=2))
        assert (down.kind, down.text) == (ReplyKind.ERROR, texts.BUSY)
        await server.start()
        for _ in range(60):  # the worker re-creates its group, the front end listens again
            back = await service.describe_photo(ChatRef("test", "chat-b", f"bob{_}"), photos.jpeg(seed=3))
            if back.kind is ReplyKind.ANSWER:
                break
            await asyncio.sleep(0.25)
        assert back.kind is ReplyKind.ANSWER, back.text
        assert all(not task.done() for task in side.worker_tasks), "the worker kept running through it"
    finally:
        await side.close()
        await redis.aclose()
        server.stop()
