"""Faults inside the core: a request stuck past the timeout, and a GPU out of memory mid-batch.

Each person hears a plain apology for their own request only, and the next request is answered.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from bot.core import texts
from bot.core.preferences import Preferences
from bot.core.service import ChatService, ServiceOptions
from bot.core.types import ChatRef, ReplyKind
from inference.worker import InferenceWorker
from tests.fakes import photos
from tests.fakes.engine import FakeEngine


def people(n: int) -> list[ChatRef]:
    return [ChatRef("test", f"chat-{i}", f"user-{i}") for i in range(n)]


async def test_a_request_stuck_past_the_timeout_gets_an_apology_and_the_next_is_answered(store):
    engine = FakeEngine(delay_s=1.0)
    worker = InferenceWorker(engine, queue_size=8, max_batch_size=4, batch_wait_ms=0)
    await worker.start()
    options = ServiceOptions(request_timeout_s=0.3, preferences=Preferences(detail="brief"))
    service = ChatService(store, worker, options)
    try:
        [alice] = people(1)
        stuck = await service.describe_photo(alice, photos.jpeg(seed=1))
        assert (stuck.text, stuck.kind) == (texts.TIMEOUT, ReplyKind.ERROR)
        engine.delay_s = 0.0
        while await worker.backlog():  # the stuck generation ends; its late answer goes nowhere
            await asyncio.sleep(0.05)
        engine.enqueue("a bench")
        again = await service.describe_photo(alice, photos.jpeg(seed=2))
        assert again.text == "A bench." and again.kind is ReplyKind.ANSWER
    finally:
        await worker.stop()


async def test_out_of_memory_in_a_shared_batch_still_answers_everyone(store):
    engine = FakeEngine(delay_s=0.05)
    engine.memory_for_batch = 1  # only one request fits on the "GPU" at a time
    worker = InferenceWorker(engine, queue_size=16, max_batch_size=8, batch_wait_ms=50)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="brief")))
    try:
        crowd = people(4)
        replies = await asyncio.gather(
            *(service.describe_photo(person, photos.jpeg(seed=n)) for n, person in enumerate(crowd))
        )
    finally:
        await worker.stop()
    assert all(reply.kind is ReplyKind.ANSWER for reply in replies), [r.text for r in replies]
    assert max(len(batch) for batch in engine.batches) > 1  # they did share a batch first


async def test_a_link_that_cannot_be_kept_after_the_answer_was_sent_raises_nothing(store):
    engine = FakeEngine()
    worker = InferenceWorker(engine, queue_size=8, max_batch_size=4, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="brief")))
    try:
        [alice] = people(1)
        reply = await service.describe_photo(alice, photos.jpeg())
        async with store.engine.begin() as connection:  # the write fails between the send and the link
            await connection.execute(text("DROP TABLE message_images"))
        await service.link_reply(alice, "42", reply.image_id or 0)  # logged, not raised
    finally:
        await worker.stop()


def test_a_pool_with_every_connection_busy_counts_as_an_outage():
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from bot.core.failures import is_outage

    assert is_outage(PoolTimeout("QueuePool limit of size 5 overflow 10 reached"))
    assert not is_outage(ValueError("a bug"))
