"""The worker's joint decode over the real tiny engine: photos join a running decode, answers unchanged.

And the rules behind it (`inference.joining`) without a model: who joins, and answer order.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from inference import worker as worker_module
from inference.jobs import Job
from inference.joining import AnswerOrder, resolve_join_running, take_joining
from inference.joint_decode import JointDecoder
from inference.types import GenerationOptions, GenerationRequest, GenerationResult
from inference.worker import InferenceWorker
from tests.inference.tiny_engines import Photo, engine, request

CAPTION = GenerationOptions(num_beams=3, max_new_tokens=8, min_new_tokens=8)
ANSWER = GenerationOptions(num_beams=3, max_new_tokens=3, min_new_tokens=1)
GREEDY = GenerationOptions(num_beams=1, max_new_tokens=4, min_new_tokens=4)
QUESTIONS = ("who is there", "where is it", "what colour is it")


def job(name: str, options: GenerationOptions = ANSWER, key: str | None = None) -> Job:
    request = GenerationRequest(image=None, image_key=name, prompt=name, options=options)  # type: ignore[arg-type]
    return Job(request=request, future=None, order_key=key)  # type: ignore[arg-type]


def names(batches: list[list[Job]]) -> list[list[str]]:
    return [[j.request.prompt for j in batch] for batch in batches]


def test_jobs_join_in_arrival_order_as_batches_of_equal_options_while_there_is_room():
    pending = [job("c1", CAPTION, "a"), job("q1", key="a"), job("q2", key="a"), job("c2", CAPTION, "b")]
    assert names(take_joining(pending, 16, lambda options: True)) == [["c1", "c2"], ["q1", "q2"]]
    # In arrival order while there is room: the later caption waits for the next step.
    assert names(take_joining(pending, 3, lambda options: True)) == [["c1"], ["q1", "q2"]]
    assert names(take_joining(pending, 2, lambda options: True)) == [["c1"], ["q1"]]


def test_a_job_that_cannot_join_stops_the_joining_so_it_is_not_passed_over():
    pending = [job("q1"), job("greedy", GREEDY), job("q2")]
    assert names(take_joining(pending, 16, lambda options: options.num_beams > 1)) == [["q1"]]


def test_answers_go_out_in_each_chats_order_whatever_order_they_finish():
    caption, question, other = job("c", CAPTION, "a"), job("q", key="a"), job("x", key="b")
    order = AnswerOrder()
    order.add([caption, question, other])
    assert order.finished(question, "q answer") == []  # held behind its caption
    assert order.finished(other, "x answer") == [(other, "x answer")]
    assert order.finished(caption, "c answer") == [(caption, "c answer"), (question, "q answer")]
    assert order.held() == []


async def test_descriptions_arriving_while_others_decode_join_them_and_answer_as_alone(
    tiny: tuple[Any, Any], make_photo: Photo
) -> None:
    served = engine(tiny)
    worker = InferenceWorker(served, queue_size=200, max_batch_size=16, batch_wait_ms=2)
    photos = [make_photo(n) for n in range(6)]
    descriptions = [
        [request(photo, "", CAPTION)] + [request(photo, f"Question: {q}? Answer:", ANSWER) for q in QUESTIONS]
        for photo in photos
    ]
    lone_greedy = request(photos[0], "Question: is it big? Answer:", GREEDY)
    answered: dict[str, list[int]] = {}
    photos_in_flight: list[int] = []
    real_join = JointDecoder.join

    def join(decoder: JointDecoder, cohort: Any) -> None:
        real_join(decoder, cohort)
        photos_in_flight.append(len({key for c in decoder.cohorts for key in c.payload.keys}))

    async def describe(n: int) -> list[GenerationResult]:
        await asyncio.sleep(n * 0.01 + random.random() * 0.01)  # while earlier ones decode
        tickets = await worker.submit_many(descriptions[n], order_key=f"person{n}")
        for i, ticket in enumerate(tickets):
            ticket.job.future.add_done_callback(
                lambda _, i=i: answered.setdefault(f"person{n}", []).append(i)
            )
        return [await ticket.result() for ticket in tickets]

    async def greedy() -> GenerationResult:
        await asyncio.sleep(0.05)
        return await (await worker.submit(lone_greedy)).result()

    await worker.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(JointDecoder, "join", join)
            *results, greedy_answer = await asyncio.gather(*(describe(n) for n in range(6)), greedy())
    finally:
        await worker.stop()

    alone = engine(tiny, cache_mb=0)
    for description, answers in zip(descriptions, results, strict=True):
        assert [a.token_ids for a in answers] == [alone.generate_batch([r])[0].token_ids for r in description]
    assert greedy_answer.token_ids == alone.generate_batch([lone_greedy])[0].token_ids
    assert all(order == [0, 1, 2, 3] for order in answered.values()), "each person's answers in order"
    assert max(photos_in_flight) >= 2, "a photo joined a decode running for another"


@pytest.mark.parametrize("join_running", [True, False])
async def test_a_failing_decode_answers_its_other_requests_apart(
    tiny: tuple[Any, Any], make_photo: Photo, join_running: bool
) -> None:
    worker = InferenceWorker(
        engine(tiny), queue_size=10, max_batch_size=8, batch_wait_ms=20, join_running=join_running
    )
    good = [request(make_photo(n), "Question: what is it? Answer:", ANSWER) for n in range(3)]
    broken = GenerationRequest(image=None, image_key="not-a-photo", prompt="x", options=ANSWER)  # type: ignore[arg-type]
    await worker.start()
    try:
        tickets = [await worker.submit(r, order_key="one chat") for r in (good[0], broken, good[1])]
        tickets.append(await worker.submit(good[2]))  # a caller with no chat (no order key)
        results = await asyncio.wait_for(
            asyncio.gather(*(t.result() for t in tickets), return_exceptions=True), timeout=60
        )
    finally:
        await worker.stop()

    assert isinstance(results[1], Exception)
    alone = engine(tiny, cache_mb=0)
    assert [r.token_ids for r in (results[0], results[2], results[3])] == [
        alone.generate_batch([r])[0].token_ids for r in good
    ]


def test_join_running_auto_joins_on_a_gpu_only():
    assert [resolve_join_running("auto", device) for device in ("cuda", "cpu", None)] == [True, False, False]
    assert [resolve_join_running(setting, "cpu") for setting in (True, False)] == [True, False]


async def test_with_joining_off_each_decode_is_a_whole_turn(tiny: tuple[Any, Any], make_photo: Photo) -> None:
    """A description's caption and questions share one decode; a photo sent meanwhile waits for the next."""
    served = engine(tiny)
    turns: list[list[int]] = []
    real_decode = worker_module.decode_jointly

    def decode(engine: Any, batches: Any, *, more: Any, done: Any) -> None:
        turns.append(sorted(len(batch) for batch in batches))
        if len(turns) == 1:  # another photo arrives while the first turn decodes
            submitted = asyncio.run_coroutine_threadsafe(worker.submit(later, order_key="second"), loop)
            late.append(submitted.result())

        def nothing_joins() -> Any:
            assert more() == [], "nothing joins a decode when joining is off"
            return []

        real_decode(engine, batches, more=nothing_joins, done=done)

    worker = InferenceWorker(served, max_batch_size=2, batch_wait_ms=20, join_running=False)
    first, second = make_photo(7), make_photo(8)
    description = [request(first, "", CAPTION)] + [
        request(first, f"Question: {q}? Answer:", ANSWER) for q in QUESTIONS
    ]
    later = request(second, "", CAPTION)
    late: list[Any] = []
    loop = asyncio.get_running_loop()
    await worker.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(worker_module, "decode_jointly", decode)
            tickets = await worker.submit_many(description, order_key="first")
            answers = [await ticket.result() for ticket in tickets]
            answers.append(await late[0].result())
    finally:
        await worker.stop()

    # max_batch_size 2 is each kind's limit: the caption and 2 questions, then the third question
    # (the other photo's caption arrived during the first turn; it goes with the third question).
    assert turns == [[1, 2], [1, 1]]
    alone = engine(tiny, cache_mb=0)
    assert [a.token_ids for a in answers] == [
        alone.generate_batch([r])[0].token_ids for r in [*description, later]
    ]


def test_a_whole_turn_takes_up_to_the_limit_of_each_kind():
    caption = GenerationOptions(num_beams=3, max_new_tokens=8)
    pending = [job("c1", caption, "a"), job("q1", key="a"), job("q2", key="a"), job("c2", caption, "b")]
    pending += [job("q3", key="b")]
    assert names(take_joining(pending, 2, lambda options: True, per_options=True)) == [
        ["c1", "c2"],
        ["q1", "q2"],
    ]
    assert names(take_joining(pending, 1, lambda options: True, per_options=True)) == [["c1"], ["q1"]]


async def test_a_turn_answers_each_chat_in_the_order_it_sent_whatever_the_kinds(
    tiny: tuple[Any, Any], make_photo: Photo
) -> None:
    """A follow-up, then a new photo's caption and question: answered in that order, in one turn."""
    worker = InferenceWorker(engine(tiny), max_batch_size=8, batch_wait_ms=20, join_running=False)
    first, second = make_photo(1), make_photo(2)
    sent = [
        request(first, "Question: what is it? Answer:", ANSWER),
        request(second, "", CAPTION),
        request(second, "Question: who is there? Answer:", ANSWER),
    ]
    answered: list[int] = []
    await worker.start()
    try:
        tickets = await worker.submit_many(sent, order_key="one chat")
        for n, ticket in enumerate(tickets):
            ticket.job.future.add_done_callback(lambda _, n=n: answered.append(n))
        await asyncio.gather(*(t.result() for t in tickets))
    finally:
        await worker.stop()
    assert answered == [0, 1, 2]
