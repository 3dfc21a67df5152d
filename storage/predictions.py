"""`PredictionStore`: the HTTP predictions API's memory, so a prediction outlives the request and a restart.

Each status change is one conditional UPDATE (`... WHERE status IN (...)`), so a finish racing a
cancel, or two servers sharing the database, can never move a prediction out of a final state.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Prediction, UtcDateTime


class PredictionStatus(StrEnum):
    """Replicate's statuses; eachlabs' are mapped onto these by the API."""

    STARTING = "starting"  # accepted, waiting for the model
    PROCESSING = "processing"  # the model is working on it
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


#: The statuses a prediction can still leave; every other one is final.
UNFINISHED = (PredictionStatus.STARTING.value, PredictionStatus.PROCESSING.value)


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One prediction as stored: what was asked (model, input), how far it got, and its answer."""

    id: str
    model: str
    version: str
    status: str  # a PredictionStatus value
    input: dict[str, Any]  # as given, with images replaced by references (never their data)
    source: str  # "replicate" or "eachlabs": the shape to answer in
    created_at: datetime
    output: str | None = None
    error: str | None = None
    logs: str = ""
    predict_time_s: float | None = None
    webhook: str | None = None
    webhook_events: tuple[str, ...] = ()
    token_hash: str | None = field(default=None, repr=False)  # sha256 of the creating token, hex
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def cursor(self) -> tuple[datetime, str]:
        """Where the next page of `PredictionStore.list` starts (pass it as `before`)."""
        return (self.created_at, self.id)


class PredictionStore:
    """Predictions and their lifecycle; built by `Store` on its engine (`store.predictions`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, record: PredictionRecord) -> None:
        """Keep a new prediction; ValueError if its input still carries image data."""
        _refuse_inline_data(record.input, "input")
        async with self._sessions.begin() as session:
            session.add(
                Prediction(
                    id=record.id,
                    model=record.model,
                    version=record.version,
                    status=PredictionStatus(record.status).value,
                    input=record.input,
                    output=record.output,
                    error=record.error,
                    logs=record.logs,
                    predict_time_s=record.predict_time_s,
                    webhook=record.webhook,
                    webhook_events=list(record.webhook_events),
                    source=record.source,
                    token_hash=record.token_hash,
                    created_at=record.created_at,
                    started_at=record.started_at,
                    completed_at=record.completed_at,
                )
            )

    async def get(self, prediction_id: str) -> PredictionRecord | None:
        async with self._sessions() as session:
            row = await session.get(Prediction, prediction_id)
            return None if row is None else _record(row)

    async def start(self, prediction_id: str, now: datetime) -> bool:
        """The model took it: starting -> processing. Any other status stays; returns whether it moved."""
        return await self._move(
            prediction_id,
            (PredictionStatus.STARTING.value,),
            status=PredictionStatus.PROCESSING.value,
            started_at=now,
        )

    async def finish(
        self,
        prediction_id: str,
        *,
        output: str | None = None,
        error: str | None = None,
        predict_time_s: float | None,
        now: datetime,
        logs: str | None = None,
    ) -> bool:
        """Record the model's answer: failed when `error` is given, else succeeded.

        Only an unfinished prediction changes (a canceled or finished one keeps its outcome);
        returns whether this one did. One finished straight from starting gets `now` as its start.
        """
        status = PredictionStatus.FAILED if error is not None else PredictionStatus.SUCCEEDED
        extra = {} if logs is None else {"logs": logs}
        return await self._move(
            prediction_id,
            UNFINISHED,
            **extra,
            status=status.value,
            output=output,
            error=error,
            predict_time_s=predict_time_s,
            started_at=func.coalesce(Prediction.started_at, literal(now, UtcDateTime())),
            completed_at=now,
        )

    async def cancel(self, prediction_id: str, now: datetime) -> PredictionRecord | None:
        """Cancel an unfinished prediction; returns it as it now is (a finished one unchanged).

        None when there is no such prediction. Stopping the model's work is the caller's job.
        """
        await self._move(prediction_id, UNFINISHED, status=PredictionStatus.CANCELED.value, completed_at=now)
        return await self.get(prediction_id)

    async def unfinished(self) -> builtins.list[PredictionRecord]:
        """Predictions still starting or processing, oldest first: at start, what a restart left."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Prediction)
                .where(Prediction.status.in_(UNFINISHED))
                .order_by(Prediction.created_at, Prediction.id)
            )
            return [_record(row) for row in rows]

    async def fail_unfinished(self, reason: str, now: datetime) -> int:
        """Fail every unfinished prediction with `error=reason`; returns how many.

        For the server's start, once it has re-queued what it can: what is left would otherwise
        stay processing forever, since no model is working on it any more.
        """
        async with self._sessions.begin() as session:
            failed = await session.execute(
                update(Prediction)
                .where(Prediction.status.in_(UNFINISHED))
                .values(status=PredictionStatus.FAILED.value, error=reason, completed_at=now)
            )
        return failed.rowcount

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete predictions created before `cutoff` (aware); returns how many."""
        if cutoff.tzinfo is None:
            raise ValueError(f"naive cutoff {cutoff!r}: pass an aware datetime, e.g. datetime.now(UTC)")
        async with self._sessions.begin() as session:
            purged = await session.execute(delete(Prediction).where(Prediction.created_at < cutoff))
        return purged.rowcount

    async def list(
        self, *, token_hash: str | None, before: tuple[datetime, str] | None = None, limit: int = 100
    ) -> builtins.list[PredictionRecord]:
        """One page of the predictions made with this token (None: made without one), newest first.

        `before` is the last page's final `record.cursor`: paging by (created_at, id) rather than
        by offset, a prediction created between two pages neither repeats nor skips a row.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        owner = Prediction.token_hash.is_(None) if token_hash is None else Prediction.token_hash == token_hash
        query = select(Prediction).where(owner)
        if before is not None:
            created_at, prediction_id = before
            query = query.where(
                or_(
                    Prediction.created_at < created_at,
                    and_(Prediction.created_at == created_at, Prediction.id < prediction_id),
                )
            )
        query = query.order_by(Prediction.created_at.desc(), Prediction.id.desc()).limit(limit)
        async with self._sessions() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def _move(self, prediction_id: str, allowed: tuple[str, ...], **values: Any) -> bool:
        """Set `values` if the prediction's status is one of `allowed`; returns whether it was."""
        async with self._sessions.begin() as session:
            moved = await session.execute(
                update(Prediction)
                .where(Prediction.id == prediction_id, Prediction.status.in_(allowed))
                .values(**values)
            )
        return moved.rowcount == 1


def _refuse_inline_data(value: Any, where: str) -> None:
    """Images are stored by reference: bytes or a data URI anywhere in the input is a caller's bug."""
    if isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(f"{where} holds raw bytes: store a reference to the image instead")
    if isinstance(value, str) and value[:5].lower() == "data:":
        raise ValueError(f"{where} holds a data URI: store a reference to the image instead")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_inline_data(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _refuse_inline_data(item, f"{where}[{index}]")


def _record(row: Prediction) -> PredictionRecord:
    return PredictionRecord(
        id=row.id,
        model=row.model,
        version=row.version,
        status=row.status,
        input=dict(row.input),
        source=row.source,
        created_at=row.created_at,
        output=row.output,
        error=row.error,
        logs=row.logs,
        predict_time_s=row.predict_time_s,
        webhook=row.webhook,
        webhook_events=tuple(row.webhook_events),
        token_hash=row.token_hash,
        started_at=row.started_at,
        completed_at=row.completed_at,
    )
