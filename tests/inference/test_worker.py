import asyncio
import random

import pytest

from inference.types import GenerationOptions, GenerationRequest
from inference.worker import InferenceWorker, Job, WorkerBusy, WorkerStopped, collate
from tests.fakes.engine import FakeEngine
from tests.fakes.photos import gradient

IMAGE = gradient()
GREEDY = GenerationOptions(num_beams=1)
BEAMS = GenerationOptions(num_beams=3)


def request(prompt: str, options: GenerationOptions = GREEDY) -> GenerationRequest:
    return GenerationRequest(image=IMAGE, image_key="k", prompt=prompt, options=options)


def job(prompt: str, options: GenerationOptions = GREEDY, key: str | None = None) -> Job:
    return Job(request=request(prompt, options), future=None, order_key=key)  # type: ignore[arg-type]


def test_collate_takes_the_oldest_job_and_later_ones_with_the_same_options():
    pending = [job("a"), job("b", BEAMS), job("c"), job("d")]
    assert [j.request.prompt for j in collate(pending, 16)] == ["a", "c", "d"]
    assert [j.request.prompt for j in collate(pending, 2)] == ["a", "c"]
    assert collate([], 4) == []


def test_collate_never_lets_a_chat_overtake_its_own_earlier_request():
    pending = [job("a1", key="A"), job("b1", BEAMS, key="B"), job("b2", key="B"), job("a2", key="A")]
    assert [j.request.prompt for j in collate(pending, 16)] == ["a1", "a2"]


@pytest.fixture
async def worker_and_engine():
    engine = FakeEngine(delay_s=0.01)
    worker = InferenceWorker(engine, queue_size=500, max_batch_size=8, batch_wait_ms=2)
    await worker.start()
    yield worker, engine
    await worker.stop()


async def test_200_concurrent_submissions_are_each_answered_once_one_generation_at_a_time(worker_and_engine):
    worker, engine = worker_and_engine
    prompts = [f"chat{n % 10} question {n}" for n in range(200)]

    async def ask(prompt: str) -> str:
        await asyncio.sleep(random.random() * 0.05)
        return (await (await worker.submit(request(prompt), order_key=prompt.split()[0])).result()).text

    answers = await asyncio.gather(*(ask(p) for p in prompts))
    assert answers == [f"answer to {p[-40:]!r}" for p in prompts]
    assert sorted(engine.prompts) == sorted(prompts), "every request generated exactly once"
    assert engine.max_concurrent == 1
    assert max(len(batch) for batch in engine.batches) > 1, "a burst is batched"
    assert max(len(batch) for batch in engine.batches) <= 8


async def test_each_chat_is_answered_in_the_order_it_asked(worker_and_engine):
    worker, engine = worker_and_engine
    tickets = []
    for n in range(30):
        chat = f"chat{n % 3}"
        options = GREEDY if n % 2 else BEAMS
        tickets.append(await worker.submit(request(f"{chat} {n}", options), order_key=chat))
    await asyncio.gather(*(t.result() for t in tickets))
    for chat in ("chat0", "chat1", "chat2"):
        order = [int(p.split()[1]) for p in engine.prompts if p.startswith(chat)]
        assert order == sorted(order)


async def test_a_failing_request_in_a_batch_fails_only_itself(worker_and_engine):
    worker, engine = worker_and_engine
    engine.fail_on.add("poison")
    tickets = [await worker.submit(request(p)) for p in ("one", "poison pill", "three")]
    results = await asyncio.gather(*(t.result() for t in tickets), return_exceptions=True)
    assert isinstance(results[1], RuntimeError)
    assert [r.text for r in (results[0], results[2])] == ["answer to 'one'", "answer to 'three'"]


async def test_a_full_queue_answers_busy():
    engine = FakeEngine(delay_s=0.2)
    worker = InferenceWorker(engine, queue_size=2, max_batch_size=1, batch_wait_ms=0)
    await worker.start()
    try:
        first = await worker.submit(request("running"))
        await asyncio.sleep(0.05)  # now generating
        waiting = [await worker.submit(request(f"w{n}")) for n in range(2)]
        assert [t.ahead for t in waiting] == [1, 2]
        with pytest.raises(WorkerBusy):
            await worker.submit(request("one too many"))
        await asyncio.gather(first.result(), *(t.result() for t in waiting))
    finally:
        await worker.stop()


async def test_queue_position_counts_down_as_requests_ahead_finish():
    engine = FakeEngine(delay_s=0.1)
    worker = InferenceWorker(engine, queue_size=10, max_batch_size=1, batch_wait_ms=0)
    await worker.start()
    try:
        tickets = [await worker.submit(request(f"r{n}")) for n in range(3)]
        assert [t.ahead for t in tickets] == [0, 1, 2]
        await tickets[0].result()
        assert worker.ahead_of(tickets[2]) <= 1
        await tickets[2].result()
        assert worker.ahead_of(tickets[2]) == 0
        assert tickets[2].queue_wait_ms > 0
    finally:
        await worker.stop()


async def test_a_cancelled_caller_is_dropped_before_generation():
    engine = FakeEngine(delay_s=0.1)
    worker = InferenceWorker(engine, queue_size=10, max_batch_size=1, batch_wait_ms=0)
    await worker.start()
    try:
        first = await worker.submit(request("first"))
        dropped = await worker.submit(request("dropped"))
        dropped.cancel()
        last = await worker.submit(request("last"))
        await asyncio.gather(first.result(), last.result())
        assert engine.prompts == ["first", "last"]
    finally:
        await worker.stop()


async def test_stop_drains_the_queue_then_refuses_new_work():
    engine = FakeEngine(delay_s=0.02)
    worker = InferenceWorker(engine, queue_size=10, max_batch_size=2, batch_wait_ms=0)
    await worker.start()
    tickets = [await worker.submit(request(f"r{n}")) for n in range(5)]
    await worker.stop(drain=True)
    assert all(t.job.future.done() and not t.job.future.exception() for t in tickets)
    with pytest.raises(WorkerStopped):
        await worker.submit(request("late"))


async def test_if_the_worker_dies_every_waiter_gets_an_error():
    class DeviceLost(BaseException):
        """Not an Exception: escapes the per-batch handling and kills the worker loop."""

    class ExplodingEngine(FakeEngine):
        def generate_batch(self, requests):
            raise DeviceLost("device lost")

    worker = InferenceWorker(ExplodingEngine(), queue_size=10, max_batch_size=4, batch_wait_ms=5)
    await worker.start()
    tickets = [await worker.submit(request(f"r{n}")) for n in range(3)]
    for ticket in tickets:
        with pytest.raises(WorkerStopped):
            await asyncio.wait_for(ticket.result(), 2)
    with pytest.raises(WorkerStopped):
        await worker.submit(request("after"))
    with pytest.raises(DeviceLost):
        await worker.stop()


class PreparingEngine(FakeEngine):
    """A fake that can prepare requests ahead; preparing "bad" ones raises."""

    overlaps_preprocessing = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.prepared: list[str] = []

    def prepare(self, request: GenerationRequest) -> None:
        if "bad" in request.prompt:
            raise ValueError("cannot preprocess")
        self.prepared.append(request.prompt)


async def test_requests_are_prepared_on_arrival_while_a_batch_generates():
    engine = PreparingEngine(delay_s=0.1)
    worker = InferenceWorker(engine, queue_size=10, max_batch_size=1, batch_wait_ms=0)
    await worker.start()
    try:
        first = await worker.submit(request("first"))
        await asyncio.sleep(0.03)  # "first" is generating now
        later = [await worker.submit(request(p)) for p in ("second", "bad third")]
        await asyncio.sleep(0.03)
        assert engine.prepared == ["first", "second"], "prepared before their batch, during another"
        assert engine.prompts == ["first"]
        results = await asyncio.gather(first.result(), *(t.result() for t in later))
    finally:
        await worker.stop()
    assert [r.text for r in results] == ["answer to 'first'", "answer to 'second'", "answer to 'bad third'"]


async def test_an_engine_that_does_not_overlap_is_not_asked_to_prepare():
    engine = PreparingEngine()
    engine.overlaps_preprocessing = False
    worker = InferenceWorker(engine, queue_size=10, max_batch_size=4, batch_wait_ms=0)
    await worker.start()
    try:
        await (await worker.submit(request("one"))).result()
    finally:
        await worker.stop()
    assert engine.prepared == []


async def test_a_lone_request_does_not_wait_for_a_burst():
    engine = FakeEngine()
    worker = InferenceWorker(engine, queue_size=10, max_batch_size=8, batch_wait_ms=1000)
    await worker.start()
    try:
        await asyncio.wait_for((await worker.submit(request("alone"))).result(), timeout=0.5)
    finally:
        await worker.stop()


async def test_a_burst_waits_batch_wait_ms_for_the_rest_of_it():
    engine = FakeEngine()
    worker = InferenceWorker(engine, queue_size=10, max_batch_size=8, batch_wait_ms=100)
    await worker.start()
    try:
        tickets = [await worker.submit(request("first")), await worker.submit(request("second"))]
        await asyncio.sleep(0.03)  # still within the burst's wait
        tickets.append(await worker.submit(request("third")))
        await asyncio.gather(*(t.result() for t in tickets))
    finally:
        await worker.stop()
    assert [len(batch) for batch in engine.batches] == [3]


async def test_requests_handed_over_together_share_a_batch_and_are_answered_in_order():
    engine = FakeEngine(delay_s=0.05)
    worker = InferenceWorker(engine, queue_size=10, max_batch_size=8, batch_wait_ms=0)
    await worker.start()
    try:
        running = await worker.submit(request("already running"), order_key="other")
        await asyncio.sleep(0.01)
        tickets = await worker.submit_many([request(f"album {n}") for n in range(4)], order_key="chat")
        assert [t.ahead for t in tickets] == [1, 1, 1, 1], "each sees what was ahead of the hand-over"
        results = await asyncio.gather(running.result(), *(t.result() for t in tickets))
    finally:
        await worker.stop()
    assert [r.text for r in results[1:]] == [f"answer to 'album {n}'" for n in range(4)]
    assert [b and [r.prompt for r in b] for b in engine.batches] == [
        ["already running"],
        [f"album {n}" for n in range(4)],
    ], "even with no burst wait, the four went into one batch"


async def test_a_hand_over_that_does_not_fit_is_refused_whole():
    engine = FakeEngine(delay_s=0.2)
    worker = InferenceWorker(engine, queue_size=3, max_batch_size=1, batch_wait_ms=0)
    await worker.start()
    try:
        first = await worker.submit(request("running"))
        await asyncio.sleep(0.02)
        queued = await worker.submit(request("queued"))
        with pytest.raises(WorkerBusy):
            await worker.submit_many([request("a"), request("b"), request("c")])
        assert worker.ahead_of(queued) == 1, "nothing of the refused hand-over was queued"
        await asyncio.gather(first.result(), queued.result())
    finally:
        await worker.stop()
    assert engine.prompts == ["running", "queued"]


def description(chat: str) -> list[GenerationRequest]:
    """A normal description's five requests: the caption and four detail questions."""
    return [request(f"{chat} caption")] + [request(f"{chat} detail {n}") for n in range(4)]


async def test_the_place_in_line_counts_the_people_ahead_not_their_requests():
    engine = FakeEngine(delay_s=0.05)
    worker = InferenceWorker(engine, queue_size=30, max_batch_size=2, batch_wait_ms=0)
    await worker.start()
    try:
        alice = await worker.submit_many(description("alice"), order_key="alice")
        await asyncio.sleep(0.01)  # two of Alice's five generate, three wait
        bob = await worker.submit_many(description("bob"), order_key="bob")
        carol = await worker.submit_many(description("carol"), order_key="carol")
        stranger = await worker.submit(request("no chat"))
        assert [t.ahead for t in alice] == [0] * 5
        assert [t.ahead for t in bob] == [1] * 5, "Alice's five requests are one person"
        assert [t.ahead for t in carol] == [2] * 5
        assert stranger.ahead == 3
        assert worker.ahead_of(carol[-1]) == 2
        await asyncio.gather(*(t.result() for t in [*alice, *bob, *carol, stranger]))
    finally:
        await worker.stop()


async def test_a_chats_own_earlier_requests_do_not_count_against_it():
    engine = FakeEngine(delay_s=0.05)
    worker = InferenceWorker(engine, queue_size=30, max_batch_size=2, batch_wait_ms=0)
    await worker.start()
    try:
        first = await worker.submit_many(description("alice"), order_key="alice")
        bob = await worker.submit_many(description("bob"), order_key="bob")
        again = await worker.submit_many(description("alice again"), order_key="alice")
        assert [t.ahead for t in again] == [1] * 5, "only Bob is ahead of Alice's second photo"
        assert worker.ahead_of(again[-1]) == 1
        await asyncio.gather(*(t.result() for t in [*first, *bob, *again]))
    finally:
        await worker.stop()


async def test_the_place_in_line_now_counts_down_in_people_to_zero_when_the_batch_runs():
    engine = FakeEngine(delay_s=0.1)
    worker = InferenceWorker(engine, queue_size=30, max_batch_size=5, batch_wait_ms=0)
    await worker.start()
    try:
        alice = await worker.submit_many(description("alice"), order_key="alice")
        bob = await worker.submit_many(description("bob"), order_key="bob")
        carol = await worker.submit_many(description("carol"), order_key="carol")
        await asyncio.sleep(0.02)  # Alice's batch of five generates
        assert [worker.ahead_of(t) for t in carol] == [2] * 5
        await asyncio.gather(*(t.result() for t in alice))
        await asyncio.sleep(0.02)  # Bob's batch generates
        assert [worker.ahead_of(t) for t in carol] == [1] * 5
        assert [worker.ahead_of(t) for t in bob] == [0] * 5
        assert not any(t.job.future.done() for t in bob), "running, not answered"
        await asyncio.gather(*(t.result() for t in bob))
        await asyncio.sleep(0.02)  # Carol's batch generates
        assert [worker.ahead_of(t) for t in carol] == [0] * 5
        assert not any(t.job.future.done() for t in carol), "running, not answered"
        await asyncio.gather(*(t.result() for t in carol))
    finally:
        await worker.stop()
    assert [len(batch) for batch in engine.batches] == [5, 5, 5]


async def test_forget_reaches_the_engine_and_the_model_facts_are_the_engines():
    engine = FakeEngine(budget_tokens=77)
    worker = InferenceWorker(engine)
    worker.forget(["photo-a", "photo-b"])
    assert engine.forgotten == ["photo-a", "photo-b"]
    assert worker.model.prompt_budget_tokens == 77
    assert worker.model.name == engine.name


async def test_out_of_memory_halves_the_batch_until_it_fits_and_nobody_gets_an_apology():
    engine = FakeEngine(delay_s=0.05)
    engine.memory_for_batch = 2
    worker = InferenceWorker(engine, queue_size=50, max_batch_size=8, batch_wait_ms=20)
    await worker.start()
    try:
        tickets = await worker.submit_many([request(f"q{n}") for n in range(8)])
        results = await asyncio.gather(*(t.result() for t in tickets))
    finally:
        await worker.stop()
    assert [r.text for r in results] == [f"answer to 'q{n}'" for n in range(8)]
    sizes = [len(batch) for batch in engine.batches]
    assert sizes[0] == 8 and max(size for size in sizes if size <= 2) == 2  # 8 -> 4 -> 2 fits
    assert sizes.count(2) == 4


async def test_out_of_memory_even_for_one_request_fails_only_that_request():
    engine = FakeEngine()
    engine.memory_for_batch = 0
    worker = InferenceWorker(engine, queue_size=50, max_batch_size=4, batch_wait_ms=0)
    await worker.start()
    try:
        ticket = await worker.submit(request("too big"))
        with pytest.raises(Exception, match="out of memory"):
            await ticket.result()
        assert worker.running  # the worker carries on
    finally:
        await worker.stop()


async def test_a_worker_whose_only_waiting_request_is_cancelled_lives_on(worker_and_engine):
    worker, engine = worker_and_engine
    engine.delay_s = 0.2
    running = await worker.submit(request("running"))
    await asyncio.sleep(0.05)  # it runs; the next one waits behind it
    waiting = await worker.submit(request("waiting"))
    waiting.cancel()
    assert (await running.result()).text == "answer to 'running'"
    await asyncio.sleep(0.1)  # the worker finds nothing but the cancelled request waiting
    later = await worker.submit(request("later"))
    assert (await asyncio.wait_for(later.result(), 5)).text == "answer to 'later'"
