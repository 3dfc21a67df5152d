"""`storage.predictions`: lifecycle, listing by token, restarts and retention, on both backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from storage import PredictionRecord, PredictionStatus, Store

T0 = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)
TOKEN_A = "a" * 64
TOKEN_B = "b" * 64


def make_prediction(
    prediction_id: str, *, created_at: datetime = T0, token_hash: str | None = TOKEN_A
) -> PredictionRecord:
    return PredictionRecord(
        id=prediction_id,
        model="blipbot/blip-2",
        version="v1",
        status=PredictionStatus.STARTING,
        input={"image": "blipbot://images/42", "question": "what is this?", "options": {"beams": 3}},
        source="replicate",
        created_at=created_at,
        webhook="https://example.com/hook",
        webhook_events=("start", "completed"),
        token_hash=token_hash,
    )


async def test_a_prediction_runs_from_starting_to_succeeded(store: Store) -> None:
    predictions = store.predictions
    record = make_prediction("p1")
    await predictions.create(record)
    assert await predictions.get("p1") == record

    assert await predictions.start("p1", T0 + timedelta(seconds=1)) is True
    assert await predictions.start("p1", T0 + timedelta(seconds=5)) is False  # already processing
    processing = await predictions.get("p1")
    assert processing is not None
    assert processing.status == "processing"
    assert processing.started_at == T0 + timedelta(seconds=1)
    assert processing.completed_at is None

    changed = await predictions.finish(
        "p1", output="a cat on a sofa", predict_time_s=1.25, now=T0 + timedelta(seconds=3)
    )
    done = await predictions.get("p1")
    assert changed is True
    assert done is not None
    assert (done.status, done.output, done.error, done.predict_time_s) == (
        "succeeded",
        "a cat on a sofa",
        None,
        1.25,
    )
    assert done.started_at is not None and done.completed_at is not None
    assert done.created_at < done.started_at < done.completed_at
    assert done.completed_at == T0 + timedelta(seconds=3)
    assert done.input == record.input
    assert done.webhook_events == ("start", "completed")
    assert await predictions.get("missing") is None


async def test_a_failed_prediction_keeps_its_error_and_cannot_finish_twice(store: Store) -> None:
    predictions = store.predictions
    await predictions.create(make_prediction("p1"))
    await predictions.start("p1", T0 + timedelta(seconds=1))
    assert await predictions.finish(
        "p1", error="CUDA out of memory", predict_time_s=0.5, now=T0 + timedelta(2)
    )

    again = await predictions.finish("p1", output="late", predict_time_s=9.0, now=T0 + timedelta(days=3))
    failed = await predictions.get("p1")
    assert again is False
    assert failed is not None
    assert (failed.status, failed.output, failed.error, failed.predict_time_s) == (
        "failed",
        None,
        "CUDA out of memory",
        0.5,
    )
    assert failed.completed_at == T0 + timedelta(2)


async def test_finishing_straight_from_starting_records_a_start(store: Store) -> None:
    await store.predictions.create(make_prediction("p1"))
    assert await store.predictions.finish("p1", output="a dog", predict_time_s=0.1, now=T0 + timedelta(1))
    done = await store.predictions.get("p1")
    assert done is not None
    assert (done.status, done.started_at, done.completed_at) == (
        "succeeded",
        T0 + timedelta(1),
        T0 + timedelta(1),
    )


async def test_cancel_is_final_and_a_finished_prediction_ignores_it(store: Store) -> None:
    predictions = store.predictions
    await predictions.create(make_prediction("running"))
    await predictions.create(make_prediction("done"))
    await predictions.start("running", T0 + timedelta(seconds=1))
    await predictions.finish("done", output="a cat", predict_time_s=1.0, now=T0 + timedelta(seconds=2))

    canceled = await predictions.cancel("running", T0 + timedelta(seconds=4))
    assert canceled is not None
    assert (canceled.status, canceled.completed_at) == ("canceled", T0 + timedelta(seconds=4))
    finished = await predictions.finish(
        "running", output="too late", predict_time_s=3.0, now=T0 + timedelta(seconds=5)
    )
    assert finished is False
    assert await predictions.get("running") == canceled

    untouched = await predictions.cancel("done", T0 + timedelta(seconds=6))
    assert untouched is not None
    assert (untouched.status, untouched.output) == ("succeeded", "a cat")
    assert untouched.completed_at == T0 + timedelta(seconds=2)
    assert await predictions.cancel("missing", T0) is None


async def test_list_is_newest_first_paged_and_only_the_tokens_own(store: Store) -> None:
    predictions = store.predictions
    for minute, prediction_id in enumerate(["a0", "a1", "a2", "a3"]):
        await predictions.create(make_prediction(prediction_id, created_at=T0 + timedelta(minutes=minute)))
    # Two created in the same instant: the id breaks the tie, so paging neither repeats nor skips one.
    tie = T0 + timedelta(minutes=10)
    await predictions.create(make_prediction("a5", created_at=tie))
    await predictions.create(make_prediction("a4", created_at=tie))
    await predictions.create(make_prediction("b0", created_at=T0 + timedelta(minutes=5), token_hash=TOKEN_B))
    await predictions.create(make_prediction("n0", created_at=T0 + timedelta(minutes=6), token_hash=None))

    pages: list[list[str]] = []
    before = None
    for _ in range(5):  # bounded: a cursor that does not move must fail the test, not hang it
        page = await predictions.list(token_hash=TOKEN_A, before=before, limit=2)
        if not page:
            break
        pages.append([record.id for record in page])
        before = page[-1].cursor
    assert pages == [["a5", "a4"], ["a3", "a2"], ["a1", "a0"]]

    assert [r.id for r in await predictions.list(token_hash=TOKEN_B)] == ["b0"]
    assert [r.id for r in await predictions.list(token_hash=None)] == ["n0"]
    assert await predictions.list(token_hash="c" * 64) == []
    with pytest.raises(ValueError, match="limit"):
        await predictions.list(token_hash=TOKEN_A, limit=0)


async def test_after_a_restart_unfinished_predictions_finish_or_fail(store_url: str) -> None:
    """What was queued when the server stopped is found again; what it cannot redo fails, cleanly."""
    first = await Store.open(store_url)
    try:
        await first.predictions.create(make_prediction("queued", created_at=T0))
        await first.predictions.create(make_prediction("running", created_at=T0 + timedelta(seconds=1)))
        await first.predictions.create(make_prediction("rerun", created_at=T0 + timedelta(seconds=2)))
        await first.predictions.create(make_prediction("done", created_at=T0 + timedelta(seconds=3)))
        await first.predictions.start("running", T0 + timedelta(seconds=4))
        await first.predictions.finish(
            "done", output="a cat", predict_time_s=1.0, now=T0 + timedelta(seconds=5)
        )
    finally:
        await first.close()

    second = await Store.open(store_url)
    try:
        predictions = second.predictions
        left = await predictions.unfinished()
        assert [(r.id, r.status) for r in left] == [
            ("queued", "starting"),
            ("running", "processing"),
            ("rerun", "starting"),
        ]
        restart = T0 + timedelta(minutes=1)
        await predictions.start("rerun", restart)
        await predictions.finish("rerun", output="a dog", predict_time_s=0.5, now=restart)

        assert await predictions.fail_unfinished("the server restarted", restart) == 2
        assert await predictions.unfinished() == []
        for prediction_id in ("queued", "running"):
            failed = await predictions.get(prediction_id)
            assert failed is not None
            assert (failed.status, failed.error, failed.completed_at) == (
                "failed",
                "the server restarted",
                restart,
            )
        rerun, done = await predictions.get("rerun"), await predictions.get("done")
        assert rerun is not None and done is not None
        assert (rerun.status, rerun.output) == ("succeeded", "a dog")
        assert (done.status, done.output, done.error) == ("succeeded", "a cat", None)
        assert await predictions.fail_unfinished("again", restart) == 0
    finally:
        await second.close()


async def test_purge_deletes_only_predictions_older_than_the_cutoff(store: Store) -> None:
    predictions = store.predictions
    await predictions.create(make_prediction("old", created_at=T0 - timedelta(days=31)))
    await predictions.create(make_prediction("old-running", created_at=T0 - timedelta(days=30, seconds=1)))
    await predictions.create(make_prediction("new", created_at=T0 - timedelta(days=29)))

    assert await predictions.purge_older_than(T0 - timedelta(days=30)) == 2
    assert await predictions.get("old") is None
    assert await predictions.get("old-running") is None
    assert await predictions.get("new") is not None
    assert await predictions.purge_older_than(T0 - timedelta(days=30)) == 0
    with pytest.raises(ValueError, match="naive"):
        await predictions.purge_older_than(datetime(2026, 1, 1))  # naive on purpose


@pytest.mark.parametrize(
    "given",
    [
        {"image": "data:image/png;base64,iVBORw0KGgo="},
        {"image": b"\x89PNG"},
        {"images": ["blipbot://images/1", "DATA:image/jpeg;base64,/9j/"]},
        {"options": {"mask": bytearray(b"\x00")}},
    ],
)
async def test_create_refuses_inline_image_data(store: Store, given: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="reference"):
        await store.predictions.create(replace(make_prediction("p1"), input=given))
    assert await store.predictions.get("p1") is None


async def test_create_refuses_an_unknown_status(store: Store) -> None:
    with pytest.raises(ValueError, match="queued"):
        await store.predictions.create(replace(make_prediction("p1"), status="queued"))
    assert await store.predictions.get("p1") is None
