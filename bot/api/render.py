"""Stored predictions and files as the wire objects of `schemas`: Replicate's, and eachlabs'."""

from __future__ import annotations

from datetime import datetime

from bot.api.schemas import (
    EachlabsMetrics,
    EachlabsPrediction,
    FileOut,
    FileUrls,
    PredictionMetrics,
    PredictionOut,
    PredictionUrls,
)
from storage import FileRecord, PredictionRecord

#: eachlabs' words for Replicate's statuses.
EACHLABS_STATUS = {
    "starting": "starting",
    "processing": "processing",
    "succeeded": "success",
    "failed": "failed",
    "canceled": "cancelled",
}


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, as Replicate writes times."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def prediction_urls(base_url: str, prediction_id: str) -> PredictionUrls:
    return PredictionUrls(
        get=f"{base_url}/v1/predictions/{prediction_id}",
        cancel=f"{base_url}/v1/predictions/{prediction_id}/cancel",
    )


def queue_time_s(record: PredictionRecord) -> float | None:
    if record.started_at is None:
        return None
    return round((record.started_at - record.created_at).total_seconds(), 3)


def prediction_out(record: PredictionRecord, base_url: str) -> PredictionOut:
    return PredictionOut(
        id=record.id,
        model=record.model,
        version=record.version,
        status=record.status,  # type: ignore[arg-type]  # a PredictionStatus value
        input=record.input,
        output=record.output,
        error=record.error,
        logs=record.logs,
        metrics=PredictionMetrics(predict_time=record.predict_time_s, queue_time=queue_time_s(record)),
        created_at=iso(record.created_at) or "",
        started_at=iso(record.started_at),
        completed_at=iso(record.completed_at),
        urls=prediction_urls(base_url, record.id),
    )


def eachlabs_out(record: PredictionRecord, base_url: str) -> EachlabsPrediction:
    return EachlabsPrediction(
        id=record.id,
        input=record.input,
        status=EACHLABS_STATUS[record.status],  # type: ignore[arg-type]
        output=record.output,
        error=record.error,
        logs=record.logs,
        metrics=EachlabsMetrics(predict_time=record.predict_time_s),
        urls=prediction_urls(base_url, record.id),
    )


def file_out(stored: FileRecord, base_url: str, expires_at: datetime | None) -> FileOut:
    return FileOut(
        id=stored.id,
        name=stored.name,
        content_type=stored.content_type,
        size=stored.size,
        etag=f'"{stored.sha256}"',
        checksums={"sha256": stored.sha256},
        metadata=stored.metadata,
        created_at=iso(stored.created_at) or "",
        expires_at=iso(expires_at),
        urls=FileUrls(get=f"{base_url}/v1/files/{stored.id}/download"),
    )
