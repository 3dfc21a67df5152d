"""`ReplyLedger`: the networked queue's memory in the shared store, so no answer is lost.

Workers write each job's answer here before they acknowledge it; front ends note each reply they
owe (its chat, its photo, its kind and the jobs it waits for) and close it once handed to the
platform. What a dead front end owed is taken over and sent by a live one, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Image, JobResult, PendingReply


@dataclass(frozen=True, slots=True)
class OwedReply:
    """A reply a front end owes a chat: what to finish (kind, params) once its jobs are answered."""

    id: str
    platform: str
    chat_external_id: str
    user_id: str
    image_id: int
    kind: str
    job_ids: tuple[str, ...]
    frontend: str
    reply_to: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


class ReplyLedger:
    """Job answers and owed replies; built by `Store` on its engine (`store.ledger`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], insert: Callable[..., Any]) -> None:
        self._sessions = sessions
        self._insert = insert

    async def save_results(self, payloads: dict[str, str]) -> None:
        """Keep each job's answer; a job answered twice keeps its first answer."""
        rows = [{"job_id": job_id, "payload": payload} for job_id, payload in payloads.items()]
        async with self._sessions.begin() as session:
            await session.execute(self._insert(JobResult).values(rows).on_conflict_do_nothing())

    async def results(self, job_ids: Sequence[str]) -> dict[str, str]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(JobResult.job_id, JobResult.payload).where(JobResult.job_id.in_(list(job_ids)))
            )
            return {job_id: payload for job_id, payload in rows}

    async def photo_data(self, image_id: int) -> bytes | None:
        """A stored photo's bytes for a worker (None once forgotten or purged)."""
        async with self._sessions() as session:
            return await session.scalar(select(Image.data).where(Image.id == image_id))

    async def owe(self, reply: OwedReply) -> None:
        async with self._sessions.begin() as session:
            session.add(
                PendingReply(
                    id=reply.id,
                    platform=reply.platform,
                    chat_external_id=reply.chat_external_id,
                    user_id=reply.user_id,
                    reply_to=reply.reply_to,
                    image_id=reply.image_id,
                    kind=reply.kind,
                    params=reply.params,
                    job_ids=list(reply.job_ids),
                    frontend=reply.frontend,
                )
            )

    async def delivered(self, reply_id: str) -> None:
        async with self._sessions.begin() as session:
            closed = update(PendingReply).where(PendingReply.id == reply_id).values(delivered=True)
            await session.execute(closed)

    async def owed(self, *, older_than: datetime, platforms: Sequence[str]) -> list[OwedReply]:
        """Open replies for these platforms, created before `older_than` (oldest first)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PendingReply)
                .where(
                    PendingReply.delivered.is_(False),
                    PendingReply.created_at < older_than,
                    PendingReply.platform.in_(list(platforms)),
                )
                .order_by(PendingReply.created_at)
                .limit(100)
            )
            return [_owed(row) for row in rows]

    async def take_over(self, reply_id: str, from_frontend: str, to_frontend: str) -> bool:
        """Move an open reply to another front end; False when someone else took it first."""
        async with self._sessions.begin() as session:
            moved = await session.execute(
                update(PendingReply)
                .where(
                    PendingReply.id == reply_id,
                    PendingReply.frontend == from_frontend,
                    PendingReply.delivered.is_(False),
                )
                .values(frontend=to_frontend)
            )
            return moved.rowcount == 1

    async def forget_chat(self, platform: str, chat_external_id: str) -> None:
        """What /forget deletes of the queue's memory: the chat's open and closed replies."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(PendingReply).where(
                    PendingReply.platform == platform, PendingReply.chat_external_id == chat_external_id
                )
            )

    async def purge_older_than(self, cutoff: datetime) -> int:
        async with self._sessions.begin() as session:
            replies = await session.execute(delete(PendingReply).where(PendingReply.created_at < cutoff))
            results = await session.execute(delete(JobResult).where(JobResult.created_at < cutoff))
        return replies.rowcount + results.rowcount


def _owed(row: PendingReply) -> OwedReply:
    return OwedReply(
        id=row.id,
        platform=row.platform,
        chat_external_id=row.chat_external_id,
        user_id=row.user_id,
        image_id=row.image_id,
        kind=row.kind,
        job_ids=tuple(row.job_ids),
        frontend=row.frontend,
        reply_to=row.reply_to,
        params=dict(row.params),
    )
