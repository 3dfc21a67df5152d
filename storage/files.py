"""`FileStore`: files uploaded to the HTTP API, kept so a prediction's input can name one by URL.

A file belongs to the token that uploaded it: another token neither sees nor uses it. The bytes
stay in the database, like a chat's photos, so every API server sharing it can serve any file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import FileUpload, utc_now


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One uploaded file's facts; its bytes only when asked for (`FileStore.content`)."""

    id: str
    name: str
    content_type: str
    size: int
    sha256: str
    metadata: dict[str, Any]
    created_at: datetime
    token_hash: str | None = field(default=None, repr=False)


class FileStore:
    """Uploaded files; built by `Store` on its engine (`store.files`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(
        self,
        file_id: str,
        data: bytes,
        *,
        name: str,
        content_type: str,
        metadata: dict[str, Any] | None = None,
        token_hash: str | None,
    ) -> FileRecord:
        row = FileUpload(
            id=file_id,
            name=name,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
            details=metadata or {},
            token_hash=token_hash,
            created_at=utc_now(),
        )
        async with self._sessions.begin() as session:
            session.add(row)
        return _stored(row)

    async def get(self, file_id: str, *, token_hash: str | None) -> FileRecord | None:
        """The file if it exists and this token uploaded it (None otherwise: no hint which)."""
        async with self._sessions() as session:
            row = await session.get(FileUpload, file_id)
            return _stored(row) if row is not None and row.token_hash == token_hash else None

    async def content(self, file_id: str, *, token_hash: str | None) -> bytes | None:
        """The file's bytes, on the same terms as `get`."""
        query = select(FileUpload.data).where(FileUpload.id == file_id, _owned_by(token_hash))
        async with self._sessions() as session:
            return await session.scalar(query)

    async def list(self, *, token_hash: str | None, limit: int = 100) -> list[FileRecord]:
        """This token's newest files, newest first."""
        query = (
            select(FileUpload)
            .where(_owned_by(token_hash))
            .order_by(FileUpload.created_at.desc(), FileUpload.id.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            return [_stored(row) for row in await session.scalars(query)]

    async def delete(self, file_id: str, *, token_hash: str | None) -> bool:
        """Delete this token's file; returns whether there was one."""
        async with self._sessions.begin() as session:
            deleted = await session.execute(
                delete(FileUpload).where(FileUpload.id == file_id, _owned_by(token_hash))
            )
        return deleted.rowcount == 1

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete files uploaded before `cutoff` (aware); returns how many."""
        if cutoff.tzinfo is None:
            raise ValueError(f"naive cutoff {cutoff!r}: pass an aware datetime, e.g. datetime.now(UTC)")
        async with self._sessions.begin() as session:
            purged = await session.execute(delete(FileUpload).where(FileUpload.created_at < cutoff))
        return purged.rowcount


def _owned_by(token_hash: str | None) -> Any:
    return FileUpload.token_hash.is_(None) if token_hash is None else FileUpload.token_hash == token_hash


def _stored(row: FileUpload) -> FileRecord:
    return FileRecord(
        id=row.id,
        name=row.name,
        content_type=row.content_type,
        size=row.size,
        sha256=row.sha256,
        metadata=dict(row.details),
        created_at=row.created_at,
        token_hash=row.token_hash,
    )
