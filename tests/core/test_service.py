"""The core against a real SQLite store and a scripted engine: prompts, history, errors."""

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.core import texts
from bot.core.preferences import Preferences
from bot.core.service import ChatService, ServiceOptions
from bot.core.types import ChatRef, ReplyKind, Upload
from inference.types import ANSWER_OPTIONS, CAPTION_OPTIONS
from inference.worker import InferenceWorker
from storage import Store
from tests.fakes import photos
from tests.fakes.engine import FakeEngine

ALICE = ChatRef("test", "chat-a", "alice")
BOB = ChatRef("test", "chat-b", "bob")


@pytest.fixture
async def service(store, engine):
    worker = InferenceWorker(engine, queue_size=8, max_batch_size=4, batch_wait_ms=0)
    await worker.start()
    # Brief descriptions: one request per photo, so these tests read simply; detail levels
    # have tests of their own (test_accessibility.py).
    options = ServiceOptions(
        photos_per_minute=5, request_timeout_s=5, preferences=Preferences(detail="brief")
    )
    yield ChatService(store, worker, options)
    await worker.stop()


async def count(store: Store, table: str) -> int:
    async with store.engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def test_a_photo_without_caption_is_described_and_recorded(service, engine, store):
    engine.enqueue("a red bicycle leaning on a wall")
    reply = await service.describe_photo(ALICE, photos.jpeg(), message_id="10")
    assert reply.kind is ReplyKind.ANSWER
    assert reply.text == "A red bicycle leaning on a wall."
    [request] = engine.requests
    assert request.prompt == ""
    assert request.options == CAPTION_OPTIONS
    assert request.image.mode == "RGB"
    assert await count(store, "turns") == 1
    assert await service.has_photo_for(ALICE, "10")


async def test_a_caption_is_the_first_question(service, engine):
    await service.describe_photo(ALICE, photos.jpeg(), question="  is there text on it? ")
    [request] = engine.requests
    assert request.prompt == "Question: is there text on it? Answer:"
    assert request.options == ANSWER_OPTIONS


async def test_the_second_question_carries_the_first_question_and_answer(service, engine):
    engine.enqueue("a front door", "blue", "yes")
    await service.describe_photo(ALICE, photos.jpeg())
    await service.ask(ALICE, "what colour is the door?")
    await service.ask(ALICE, "is it open?")
    assert engine.prompts[1] == "Question: what colour is the door? Answer:"
    assert (
        engine.prompts[2] == "Question: what colour is the door? Answer: Blue. Question: is it open? Answer:"
    )


async def test_the_oldest_exchanges_are_dropped_when_the_prompt_is_over_budget(store):
    engine = FakeEngine(budget_tokens=16)  # the fake counts words
    worker = InferenceWorker(engine, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="brief")))
    try:
        engine.enqueue("caption", "one", "two", "three")
        await service.describe_photo(ALICE, photos.jpeg())
        for question in ("first question here?", "second question here?", "third question here?"):
            await service.ask(ALICE, question)
    finally:
        await worker.stop()
    last = engine.prompts[-1]
    assert "first question" not in last
    assert last == "Question: second question here? Answer: 2. Question: third question here? Answer:"


async def test_a_question_with_no_photo_asks_for_one_without_calling_the_model(service, engine):
    reply = await service.ask(ALICE, "what is this?")
    assert (reply.kind, reply.text) == (ReplyKind.INFO, texts.NEED_PHOTO)
    assert engine.requests == []


async def test_replying_to_an_older_photo_asks_about_that_photo(service, engine):
    await service.describe_photo(ALICE, photos.jpeg(seed=1), message_id="1")
    await service.describe_photo(ALICE, photos.jpeg(seed=2), message_id="2")
    await service.ask(ALICE, "what is it?", about_message_id="1")
    first_key, second_key, asked_key = (r.image_key for r in engine.requests)
    assert first_key != second_key
    assert asked_key == first_key
    await service.ask(ALICE, "and now?")
    assert engine.requests[-1].image_key == first_key, "the replied-to photo became the current one"


async def test_chats_never_see_each_others_photos(service, engine):
    await service.describe_photo(ALICE, photos.jpeg(), message_id="1")
    reply = await service.ask(BOB, "what is it?", about_message_id="1")
    assert reply.text == texts.NEED_PHOTO
    assert len(engine.requests) == 1


async def test_reset_puts_the_photo_aside_and_history_starts_over(service, engine):
    engine.enqueue("caption", "blue")
    await service.describe_photo(ALICE, photos.jpeg())
    await service.ask(ALICE, "what colour?")
    assert (await service.reset(ALICE)).text == texts.RESET_DONE
    assert (await service.ask(ALICE, "and now?")).text == texts.NEED_PHOTO
    await service.describe_photo(ALICE, photos.jpeg())
    await service.ask(ALICE, "what colour?")
    assert engine.prompts[-1] == "Question: what colour? Answer:", "old history is not replayed"


async def test_forget_also_empties_the_models_caches_of_the_chats_photos(service, engine):
    await service.describe_photo(ALICE, photos.jpeg(seed=1))
    await service.describe_photo(ALICE, photos.jpeg(seed=2))
    await service.describe_photo(BOB, photos.png())
    alice_keys = {r.image_key for r in engine.requests[:2]}
    await service.forget(ALICE)
    assert set(engine.forgotten) == alice_keys


async def test_forget_deletes_the_chat_and_nothing_of_other_chats(service, store):
    await service.describe_photo(ALICE, photos.jpeg())
    await service.describe_photo(BOB, photos.png())
    assert (await service.forget(ALICE)).text == texts.FORGET_DONE
    assert await count(store, "images") == 1
    assert await count(store, "turns") == 1
    assert (await service.ask(ALICE, "what is it?")).text == texts.NEED_PHOTO


@pytest.mark.parametrize(
    "data", [photos.truncated_jpeg(), photos.TEXT_FILE_NAMED_JPG, photos.huge_header_png()]
)
async def test_a_bad_upload_gets_a_friendly_error_and_nothing_is_stored(service, engine, store, data):
    reply = await service.describe_photo(ALICE, data)
    assert reply.is_error
    assert "Traceback" not in reply.text
    assert engine.requests == []
    assert await count(store, "images") == 0


async def test_photos_over_the_per_user_rate_limit_are_refused_politely(service, engine):
    replies = [await service.describe_photo(ALICE, photos.jpeg(seed=n)) for n in range(6)]
    assert all(not r.is_error for r in replies[:5])
    assert replies[5].is_error and "Please wait" in replies[5].text
    assert len(engine.requests) == 5
    assert not (await service.describe_photo(BOB, photos.jpeg())).is_error


async def test_a_generation_failure_becomes_an_apology(service, engine):
    engine.fail_on.add("boom")
    reply = await service.describe_photo(ALICE, photos.jpeg(), question="boom?")
    assert (reply.kind, reply.text) == (ReplyKind.ERROR, texts.FAILED)


async def test_a_full_queue_says_busy(store):
    engine = FakeEngine(delay_s=0.3)
    worker = InferenceWorker(engine, queue_size=1, max_batch_size=1, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="brief")))
    try:
        users = [ChatRef("test", f"c{n}", f"u{n}") for n in range(4)]
        replies = await asyncio.gather(
            *(service.describe_photo(u, photos.jpeg(seed=n)) for n, u in enumerate(users))
        )
    finally:
        await worker.stop()
    assert texts.BUSY in [r.text for r in replies]


async def test_people_waiting_are_told_their_place_in_line(store):
    engine = FakeEngine(delay_s=0.2)
    worker = InferenceWorker(engine, queue_size=8, max_batch_size=1, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="brief")))
    told: dict[str, list[int]] = {}

    async def send(n: int):
        user = ChatRef("test", f"c{n}", f"u{n}")

        async def on_queued(position: int) -> None:
            told.setdefault(user.chat_id, []).append(position)

        return await service.describe_photo(user, photos.jpeg(seed=n), on_queued=on_queued)

    try:
        first = asyncio.create_task(send(0))
        await asyncio.sleep(0.05)
        replies = await asyncio.gather(first, send(1), send(2))
    finally:
        await worker.stop()
    assert not any(r.is_error for r in replies)
    assert "c0" not in told
    assert sorted(p for positions in told.values() for p in positions) == [2, 3]


async def test_the_place_in_line_counts_people_not_their_detail_questions(store):
    engine = FakeEngine(delay_s=0.08)
    worker = InferenceWorker(engine, queue_size=16, max_batch_size=1, batch_wait_ms=0)
    await worker.start()
    # Normal detail: each description is five requests (a caption and four questions).
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="normal")))
    told: dict[str, list[int]] = {}

    async def send(n: int):
        user = ChatRef("test", f"c{n}", f"u{n}")

        async def on_queued(position: int) -> None:
            told.setdefault(user.chat_id, []).append(position)

        return await service.describe_photo(user, photos.jpeg(seed=n), on_queued=on_queued)

    try:
        first = asyncio.create_task(send(0))
        async with asyncio.timeout(5):
            while not engine.batches:  # the first person's description is generating
                await asyncio.sleep(0.005)
            second = asyncio.create_task(send(1))
            while "c1" not in told:  # the second person has been told their place
                await asyncio.sleep(0.005)
        replies = await asyncio.gather(first, second, send(2))
    finally:
        await worker.stop()
    assert not any(r.is_error for r in replies)
    assert len(engine.requests) == 3 * 5
    assert told == {"c1": [2], "c2": [3]}, "one person ahead is number 2 in line, not number 6"
    assert texts.place_in_line(told["c1"][0]).startswith("You are number 2 in line")


async def test_a_caption_only_model_says_so_when_asked_a_question(store):
    engine = FakeEngine(can_answer_questions=False)
    worker = InferenceWorker(engine, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="brief")))
    try:
        await service.describe_photo(ALICE, photos.jpeg())
        reply = await service.ask(ALICE, "what colour?")
    finally:
        await worker.stop()
    assert reply.text == texts.CAPTION_ONLY
    assert len(engine.requests) == 1


async def test_describe_again_gives_the_full_description(service, engine):
    await service.describe_photo(ALICE, photos.jpeg())
    await service.describe_again(ALICE)
    assert len(engine.requests) == 1 + 5, "brief first, then caption plus the detail questions"


async def test_retention_purges_old_photos_and_turns(service, store, engine):
    await service.describe_photo(ALICE, photos.jpeg())
    assert await service.purge_expired() == 0
    assert engine.forgotten == []
    later = datetime.now(UTC) + timedelta(days=31)
    assert await service.purge_expired(now=later) > 0
    assert await count(store, "images") == 0
    assert await count(store, "turns") == 0
    assert engine.forgotten == [hashlib.sha256(photos.jpeg()).hexdigest()], "the model's caches too"


async def test_forget_while_a_photo_is_described_answers_instead_of_raising(store):
    engine = FakeEngine(delay_s=0.3)
    worker = InferenceWorker(engine, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="brief")))
    try:
        describing = asyncio.create_task(service.describe_photo(ALICE, photos.jpeg()))
        await asyncio.sleep(0.1)
        await service.forget(ALICE)
        reply = await describing
    finally:
        await worker.stop()
    assert reply.text == texts.PHOTO_GONE
    assert await count(store, "turns") == 0


async def test_a_store_failure_becomes_an_apology(service, store, caplog, monkeypatch):
    async def broken(*args, **kwargs):
        raise OSError("disk I/O error")

    monkeypatch.setattr(store, "active_image", broken)
    reply = await service.ask(ALICE, "what is it?")
    assert (reply.kind, reply.text) == (ReplyKind.ERROR, texts.FAILED)
    assert "ask failed platform=test chat=chat-a" in caplog.text


@pytest.mark.parametrize("batch_wait_ms", [0, 20], ids=["no-burst-wait", "burst-wait"])
async def test_an_album_is_answered_in_shared_batches_in_order_with_the_last_photo_current(
    store, batch_wait_ms
):
    # The album's requests reach the queue in one hand-over: they share a batch without any wait.
    engine = FakeEngine(delay_s=0.05)
    worker = InferenceWorker(engine, max_batch_size=16, batch_wait_ms=batch_wait_ms)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="brief")))
    uploads = [
        Upload(photos.jpeg(seed=1), "1"),
        Upload(photos.truncated_jpeg(), "2"),
        Upload(photos.png(seed=3), "3"),
    ]
    try:
        engine.enqueue("first", "third")
        replies = await service.describe_photos(ALICE, uploads)
        await service.ask(ALICE, "and this one?")
    finally:
        await worker.stop()
    assert [r.kind for r in replies] == [ReplyKind.ANSWER, ReplyKind.ERROR, ReplyKind.ANSWER]
    assert "damaged" in replies[1].text
    assert len(engine.batches[0]) == 2, "both photos' captions ran as one batch"
    first_key, third_key = (hashlib.sha256(uploads[n].data).hexdigest() for n in (0, 2))
    assert [r.image_key for r in engine.batches[0]] == [first_key, third_key], "in the album's order"
    assert engine.requests[-1].image_key == third_key, "the album's last photo is the current one"


async def test_one_photo_of_an_album_failing_apologises_for_that_photo_only(store):
    engine = FakeEngine()
    worker = InferenceWorker(engine, max_batch_size=16, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="normal")))
    uploads = [Upload(photos.jpeg(seed=n), str(n)) for n in range(3)]
    engine.fail_on_images = {hashlib.sha256(uploads[1].data).hexdigest()}
    try:
        replies = await service.describe_photos(ALICE, uploads)
    finally:
        await worker.stop()
    assert [r.kind for r in replies] == [ReplyKind.ANSWER, ReplyKind.ERROR, ReplyKind.ANSWER]
    assert replies[1].text == texts.FAILED
    assert len(engine.batches[0]) == 15, "three photos' five requests each went to the model as one batch"
