"""The networked queue against the real local Redis and a real store: jobs out, answers back.

Each test uses its own key prefix, so tests never see each other's streams, and deletes its keys.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from inference.queue import WorkerBusy
from inference.redis_queue import JobFailed, RedisQueue
from inference.stream_admin import queue_report, retry_dead
from inference.streams import StreamNames, decode_result, encode_result
from inference.types import GenerationOptions, GenerationRequest, GenerationResult
from storage import Store
from tests.fakes import photos
from tests.fakes.cluster import LocalCluster
from tests.fakes.engine import FakeEngine

GREEDY = GenerationOptions(num_beams=1)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/queue.sqlite3")
    yield store
    await store.close()


async def stored_photo(store: Store, seed: int = 0) -> tuple[int, str]:
    data = photos.jpeg(seed=seed)
    chat = await store.chat_id("test", f"chat-{seed}")
    image = await store.add_image(chat, data, "image/jpeg", 64, 48)
    return image.id, hashlib.sha256(data).hexdigest()


def request(photo: tuple[int, str], prompt: str) -> GenerationRequest:
    return GenerationRequest(photos.gradient(), photo[1], prompt, GREEDY, photo_ref=photo[0])


@pytest.fixture
async def cluster(redis: Redis, names: StreamNames, store: Store) -> AsyncIterator[LocalCluster]:
    cluster = LocalCluster(redis, names, store)
    yield cluster
    await cluster.close()


@pytest.fixture
async def frontend(cluster: LocalCluster) -> RedisQueue:
    return await cluster.queue()


async def test_jobs_are_answered_in_order_and_stored_before_they_are_acknowledged(frontend, cluster, store):
    engine = FakeEngine()
    engine.enqueue("one", "two", "three")
    await cluster.worker(engine)
    photo = await stored_photo(store)
    tickets = await frontend.submit_many([request(photo, p) for p in ("a", "b", "c")], order_key="chat")
    results = await asyncio.wait_for(asyncio.gather(*(t.result() for t in tickets)), 10)
    assert [r.text for r in results] == ["one", "two", "three"]
    assert engine.prompts == ["a", "b", "c"], "one batch, in the order given"
    stored = await store.ledger.results([t.job_id for t in tickets])
    assert [decode_result(stored[t.job_id]).text for t in tickets] == ["one", "two", "three"]
    info = await cluster.redis.xinfo_groups(cluster.names.jobs)
    assert [g["pending"] for g in info] == [0], "every job acknowledged"


async def test_a_follow_up_goes_to_the_worker_that_holds_the_photo(frontend, cluster, store):
    first, second = FakeEngine(), FakeEngine()
    worker_a = await cluster.worker(first)
    photo = await stored_photo(store)
    await (await frontend.submit(request(photo, "caption"))).result()
    worker_b = await cluster.worker(second)
    await asyncio.sleep(0.2)  # B is reading the shared stream too now
    for n in range(4):
        await asyncio.wait_for((await frontend.submit(request(photo, f"q{n}"))).result(), 10)
    holder = await cluster.redis.hget(cluster.names.affinity, photo[1])
    assert holder.decode() == worker_a.worker_id != worker_b.worker_id
    assert first.prompts == ["caption", "q0", "q1", "q2", "q3"] and second.prompts == []


async def test_a_job_that_keeps_failing_is_dead_lettered_and_its_person_told(frontend, cluster, store):
    engine = FakeEngine()
    engine.fail_on = {"poison"}
    await cluster.worker(engine, claim_idle_ms=200, max_deliveries=2)
    photo = await stored_photo(store)
    poison, fine = await frontend.submit_many([request(photo, "poison"), request(photo, "fine")])
    assert (await asyncio.wait_for(fine.result(), 10)).text
    with pytest.raises(JobFailed, match="dead-lettered"):
        await asyncio.wait_for(poison.result(), 15)
    assert engine.prompts.count("poison") == 3, "the first try and max_deliveries more"
    assert await cluster.redis.xlen(cluster.names.dead) == 1
    report = await queue_report(cluster.redis, cluster.names)
    assert "1 dead letters" in report
    engine.fail_on = set()
    assert await retry_dead(cluster.redis, cluster.names) == 1
    assert await cluster.redis.xlen(cluster.names.dead) == 0
    for _ in range(100):
        if engine.prompts.count("poison") == 4:
            break
        await asyncio.sleep(0.05)
    assert engine.prompts.count("poison") == 4, "the retried job was answered"


async def test_jobs_of_a_worker_that_died_are_claimed_by_another(frontend, cluster, store, redis, names):
    photo = await stored_photo(store)
    tickets = await frontend.submit_many([request(photo, f"r{n}") for n in range(3)])
    # A worker that read the jobs and died before answering: they sit pending under its name.
    await redis.xgroup_create(names.jobs, names.group, id="0", mkstream=True)
    taken = await redis.xreadgroup(names.group, "dead-worker", {names.jobs: ">"}, count=10)
    assert len(taken[0][1]) == 3
    engine = FakeEngine()
    await cluster.worker(engine, claim_idle_ms=300)
    results = await asyncio.wait_for(asyncio.gather(*(t.result() for t in tickets)), 10)
    assert len(results) == 3 and sorted(engine.prompts) == ["r0", "r1", "r2"]
    pending = await redis.xpending(names.jobs, names.group)
    assert pending["pending"] == 0


async def test_the_place_in_line_counts_people_not_requests(frontend, cluster, store):
    photo = await stored_photo(store)
    await frontend.submit_many([request(photo, f"a{n}") for n in range(5)], order_key="alice")
    await frontend.submit_many([request(photo, f"b{n}") for n in range(5)], order_key="bob")
    carol = await frontend.submit_many([request(photo, f"c{n}") for n in range(5)], order_key="carol")
    assert {t.ahead for t in carol} == {2}, "two people ahead, not ten requests"


async def test_forget_reaches_every_worker(frontend, cluster, store):
    engines = [FakeEngine(), FakeEngine()]
    for engine in engines:
        await cluster.worker(engine)
    await asyncio.sleep(0.3)  # both subscribed
    frontend.forget(["photo-hash"])
    for _ in range(50):
        if all(e.forgotten == ["photo-hash"] for e in engines):
            break
        await asyncio.sleep(0.05)
    assert [e.forgotten for e in engines] == [["photo-hash"], ["photo-hash"]]


async def test_an_unreachable_redis_is_busy_not_a_crash(store):
    gone = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    queue = RedisQueue(gone, StreamNames("test-gone"), FakeEngine(), queue_size=10)
    photo = await stored_photo(store)
    with pytest.raises(WorkerBusy):
        await queue.submit(request(photo, "anyone there?"))
    await gone.aclose()


async def test_an_answer_that_lands_before_the_front_end_listens_is_not_missed(redis, names, store):
    queue = RedisQueue(redis, names, FakeEngine(), queue_size=10)  # no store to fall back on
    photo = await stored_photo(store)
    ticket = await queue.submit(request(photo, "quick"))
    result = GenerationResult("already here", 2)
    await redis.xadd(
        names.results(queue.frontend_id), {"job": ticket.job_id, "result": encode_result(result)}
    )
    await queue.start()
    try:
        assert (await asyncio.wait_for(ticket.result(), 3)).text == "already here"
    finally:
        await queue.stop()


async def test_people_of_a_front_end_that_died_leave_the_line(frontend, cluster, store):
    photo = await stored_photo(store)
    other = await cluster.queue()
    await other.submit_many([request(photo, "a")], order_key="alice")
    await other.stop()  # a front end that died: its heartbeat is gone, its person still in line
    await cluster.redis.zadd(cluster.names.waiting, {f"{other.frontend_id}:ghost": 0})
    [mine] = await frontend.submit_many([request(photo, "b")], order_key="bob")
    assert mine.ahead >= 1
    assert await frontend.sweep_line() >= 1
    [again] = await frontend.submit_many([request(photo, "c")], order_key="carol")
    assert again.ahead == 1, "only bob, of this live front end, is ahead now"
