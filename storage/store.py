"""`Store`: everything the bot keeps about chats, photos and answers, behind one async interface.

Each method is its own short transaction and returns frozen dataclasses, never ORM objects, so
callers cannot lazy-load or mutate rows. A chat only ever sees its own photos.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.engine import create_engine, upgrade
from storage.files import FileStore
from storage.ledger import ReplyLedger
from storage.models import Chat, Image, MessageImage, Turn, UserSettings, utc_now
from storage.predictions import PredictionStore
from storage.records import Exchange, NotFoundError, StoredImage, TurnKind

# Both dialects spell INSERT ... ON CONFLICT the same way; this picks the one to build it with.
UPSERT_INSERTS: dict[str, Callable[..., Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _stored(image: Image) -> StoredImage:
    return StoredImage(
        id=image.id,
        chat_id=image.chat_id,
        content_hash=image.content_hash,
        data=image.data,
        mime=image.mime,
        width=image.width,
        height=image.height,
    )


def _merge(current: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`values` laid over `current`; a None value removes the key, so its default applies again."""
    merged = {**current, **values}
    return {key: value for key, value in merged.items() if value is not None}


class Store:
    """The storage the rest of the app uses; build it with `await Store.open(url)` at start."""

    def __init__(self, engine: AsyncEngine) -> None:
        """Wrap an engine whose database is already migrated (`open` does both)."""
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._insert = UPSERT_INSERTS[engine.dialect.name]
        #: The networked queue's answers and owed replies (unused with the in-process queue).
        self.ledger = ReplyLedger(self._sessions, self._insert)
        #: The HTTP API's predictions (unused when no API runs).
        self.predictions = PredictionStore(self._sessions)
        #: Files uploaded to the HTTP API (unused when no API runs).
        self.files = FileStore(self._sessions)

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect to `url` (SQLite or PostgreSQL, sync or async driver) and apply pending migrations."""
        engine = create_engine(url)
        try:
            await upgrade(engine)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    @property
    def engine(self) -> AsyncEngine:
        """The underlying engine, for tests and maintenance scripts; the app uses the methods."""
        return self._engine

    async def close(self) -> None:
        """Close every pooled connection; call once, at shutdown."""
        await self._engine.dispose()

    # chats

    async def chat_id(self, platform: str, external_id: str) -> int:
        """The chat's id, creating the chat on first contact; safe when two updates race."""
        query = select(Chat.id).where(Chat.platform == platform, Chat.external_id == external_id)
        async with self._sessions.begin() as session:
            found = await session.scalar(query)
            if found is not None:
                return found
            # ON CONFLICT DO NOTHING instead of catching IntegrityError: an error would abort a
            # PostgreSQL transaction, and the loser of the race only needs to read the winner's row.
            await session.execute(
                self._insert(Chat)
                .values(platform=platform, external_id=external_id, settings={}, created_at=utc_now())
                .on_conflict_do_nothing(index_elements=[Chat.platform, Chat.external_id])
            )
            return (await session.scalars(query)).one()

    async def reset(self, chat_id: int) -> None:
        """Start over: no active photo, and earlier answers stop being history (they stay on record)."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(Chat)
                .where(Chat.id == chat_id)
                .values(active_image_id=None, conversation=Chat.conversation + 1)
            )

    async def forget(self, chat_id: int, user_id: str | None = None) -> None:
        """Delete the chat with its photos, answers and message links, and `user_id`'s settings.

        Each table is cleared explicitly rather than left to ON DELETE CASCADE, so the privacy
        promise holds even on a connection where SQLite was not told to enforce foreign keys.
        """
        async with self._sessions.begin() as session:
            platform = await session.scalar(select(Chat.platform).where(Chat.id == chat_id))
            if platform is None:
                return
            await session.execute(delete(MessageImage).where(MessageImage.chat_id == chat_id))
            await session.execute(delete(Turn).where(Turn.chat_id == chat_id))
            await session.execute(update(Chat).where(Chat.id == chat_id).values(active_image_id=None))
            await session.execute(delete(Image).where(Image.chat_id == chat_id))
            await session.execute(delete(Chat).where(Chat.id == chat_id))
            if user_id is not None:
                await session.execute(
                    delete(UserSettings).where(
                        UserSettings.platform == platform, UserSettings.user_id == user_id
                    )
                )

    async def hashes_older_than(self, cutoff: datetime) -> list[str]:
        """The content hashes of photos the retention purge is about to delete (for the model's caches)."""
        async with self._sessions() as session:
            return list(await session.scalars(select(Image.content_hash).where(Image.created_at < cutoff)))

    async def purge_older_than(self, cutoff: datetime) -> int:
        """Delete photos and answers created before `cutoff` (aware); returns how many were deleted.

        An old photo goes even if it is a chat's active one (the chat then has none), and with
        it every answer about it; message links to it go too but are not counted.
        """
        if cutoff.tzinfo is None:
            raise ValueError(f"naive cutoff {cutoff!r}: pass an aware datetime, e.g. datetime.now(UTC)")
        old_images = select(Image.id).where(Image.created_at < cutoff).scalar_subquery()
        async with self._sessions.begin() as session:
            await session.execute(
                update(Chat).where(Chat.active_image_id.in_(old_images)).values(active_image_id=None)
            )
            await session.execute(delete(MessageImage).where(MessageImage.image_id.in_(old_images)))
            turns = await session.execute(
                delete(Turn).where(or_(Turn.created_at < cutoff, Turn.image_id.in_(old_images)))
            )
            images = await session.execute(delete(Image).where(Image.created_at < cutoff))
        return turns.rowcount + images.rowcount

    # images

    async def add_image(self, chat_id: int, data: bytes, mime: str, width: int, height: int) -> StoredImage:
        """Keep a photo sent to the chat and make it the active one.

        The same bytes sent again in this chat reuse their row (earlier answers about it still
        apply); the row's clock restarts, so retention counts from the latest sending.
        """
        content_hash = hashlib.sha256(data).hexdigest()
        now = utc_now()
        new_row = self._insert(Image).values(
            chat_id=chat_id,
            content_hash=content_hash,
            data=data,
            mime=mime,
            width=width,
            height=height,
            size_bytes=len(data),
            created_at=now,
        )
        upsert = new_row.on_conflict_do_update(
            index_elements=[Image.chat_id, Image.content_hash], set_={"created_at": now}
        ).returning(Image.id, Image.mime, Image.width, Image.height)
        async with self._sessions.begin() as session:
            if await session.scalar(select(Chat.id).where(Chat.id == chat_id)) is None:
                raise NotFoundError(f"no chat {chat_id}")
            row = (await session.execute(upsert)).one()
            await session.execute(update(Chat).where(Chat.id == chat_id).values(active_image_id=row.id))
        return StoredImage(row.id, chat_id, content_hash, data, row.mime, row.width, row.height)

    async def image_hashes(self, chat_id: int) -> list[str]:
        """Content hashes of every photo the chat holds (what in-memory caches are keyed by)."""
        async with self._sessions() as session:
            rows = await session.scalars(select(Image.content_hash).where(Image.chat_id == chat_id))
            return list(rows)

    async def active_image(self, chat_id: int) -> StoredImage | None:
        """The photo questions in this chat are about by default, if any."""
        query = select(Image).join(Chat, Chat.active_image_id == Image.id).where(Chat.id == chat_id)
        return await self._one_image(query)

    async def image(self, chat_id: int, image_id: int) -> StoredImage | None:
        """The image, or None if it is gone or belongs to another chat."""
        return await self._one_image(select(Image).where(Image.id == image_id, Image.chat_id == chat_id))

    async def set_active_image(self, chat_id: int, image_id: int) -> None:
        """Make one of the chat's photos the default subject; NotFoundError if it isn't the chat's."""
        async with self._sessions.begin() as session:
            await self._check_owned(session, chat_id, image_id)
            await session.execute(update(Chat).where(Chat.id == chat_id).values(active_image_id=image_id))

    # message links

    async def link_message(self, chat_id: int, message_id: str, image_id: int) -> None:
        """Remember that a platform message is about this image, so replying to it asks about it."""
        link = self._insert(MessageImage).values(chat_id=chat_id, message_id=message_id, image_id=image_id)
        upsert = link.on_conflict_do_update(
            index_elements=[MessageImage.chat_id, MessageImage.message_id], set_={"image_id": image_id}
        )
        async with self._sessions.begin() as session:
            await self._check_owned(session, chat_id, image_id)
            await session.execute(upsert)

    async def image_for_message(self, chat_id: int, message_id: str) -> StoredImage | None:
        """The image a message of this chat is about, or None for a message we never linked."""
        query = (
            select(Image)
            .join(MessageImage, MessageImage.image_id == Image.id)
            .where(MessageImage.chat_id == chat_id, MessageImage.message_id == message_id)
            .where(Image.chat_id == chat_id)
        )
        return await self._one_image(query)

    # turns

    async def add_turn(
        self,
        chat_id: int,
        image_id: int,
        kind: TurnKind,
        question: str | None,
        answer: str,
        model: str,
        latency_ms: int,
    ) -> None:
        """Record an answer the bot sent, in the chat's current conversation."""
        if kind is TurnKind.QUESTION and question is None:
            raise ValueError("a question turn needs its question")
        current = select(Chat.conversation).where(Chat.id == chat_id).scalar_subquery()
        async with self._sessions.begin() as session:
            await self._check_owned(session, chat_id, image_id)
            await session.execute(
                insert(Turn).values(
                    chat_id=chat_id,
                    image_id=image_id,
                    conversation=current,
                    kind=TurnKind(kind).value,
                    question=question,
                    answer=answer,
                    model=model,
                    latency_ms=latency_ms,
                    created_at=utc_now(),
                )
            )

    async def history(self, chat_id: int, image_id: int) -> list[Exchange]:
        """Questions asked about the image since the chat's last reset, with answers, oldest first."""
        query = (
            select(Turn.question, Turn.answer)
            .join(Chat, Chat.id == Turn.chat_id)
            .where(Turn.chat_id == chat_id, Turn.image_id == image_id)
            .where(Turn.kind == TurnKind.QUESTION.value, Turn.conversation == Chat.conversation)
            .order_by(Turn.id)  # ids grow with time and, unlike timestamps, never tie
        )
        async with self._sessions() as session:
            rows = await session.execute(query)
            return [Exchange(question=row.question or "", answer=row.answer) for row in rows]

    async def conversation(self, chat_id: int, image_id: int) -> list[Exchange]:
        """Every answer about the image since the last reset, descriptions too (question ""), oldest first."""
        query = (
            select(Turn.question, Turn.answer)
            .join(Chat, Chat.id == Turn.chat_id)
            .where(Turn.chat_id == chat_id, Turn.image_id == image_id, Turn.conversation == Chat.conversation)
            .order_by(Turn.id)
        )
        async with self._sessions() as session:
            rows = await session.execute(query)
            return [Exchange(question=row.question or "", answer=row.answer) for row in rows]

    # settings

    async def user_settings(self, platform: str, user_id: str) -> dict[str, Any]:
        """A person's stored preferences on a platform; empty when they never changed any."""
        query = select(UserSettings.settings).where(
            UserSettings.platform == platform, UserSettings.user_id == user_id
        )
        async with self._sessions() as session:
            return dict(await session.scalar(query) or {})

    async def update_user_settings(self, platform: str, user_id: str, **values: Any) -> dict[str, Any]:
        """Merge `values` into the person's settings (None removes a key); returns the result."""
        key = (UserSettings.platform == platform, UserSettings.user_id == user_id)
        async with self._sessions.begin() as session:
            # Insert first: that takes the row (and SQLite's write lock) before the read, so two
            # concurrent updates merge one after the other instead of overwriting each other.
            await session.execute(
                self._insert(UserSettings)
                .values(platform=platform, user_id=user_id, settings={}, updated_at=utc_now())
                .on_conflict_do_nothing(index_elements=[UserSettings.platform, UserSettings.user_id])
            )
            current = (
                await session.scalars(select(UserSettings.settings).where(*key).with_for_update())
            ).one()
            merged = _merge(current, values)
            await session.execute(
                update(UserSettings).where(*key).values(settings=merged, updated_at=utc_now())
            )
        return dict(merged)

    async def chat_settings(self, chat_id: int) -> dict[str, Any]:
        """The chat's stored settings (what admins set for everyone in it); NotFoundError if no chat."""
        async with self._sessions() as session:
            settings = await session.scalar(select(Chat.settings).where(Chat.id == chat_id))
        if settings is None:
            raise NotFoundError(f"no chat {chat_id}")
        return dict(settings)

    async def update_chat_settings(self, chat_id: int, **values: Any) -> dict[str, Any]:
        """Merge `values` into the chat's settings (None removes a key); returns the result."""
        async with self._sessions.begin() as session:
            query = select(Chat.settings).where(Chat.id == chat_id).with_for_update()
            current = await session.scalar(query)
            if current is None:
                raise NotFoundError(f"no chat {chat_id}")
            merged = _merge(current, values)
            await session.execute(update(Chat).where(Chat.id == chat_id).values(settings=merged))
        return dict(merged)

    # helpers

    async def _one_image(self, query: Any) -> StoredImage | None:
        async with self._sessions() as session:
            image = await session.scalar(query)
            return None if image is None else _stored(image)

    @staticmethod
    async def _check_owned(session: AsyncSession, chat_id: int, image_id: int) -> None:
        """Refuse to point a chat at another chat's image: chats never see each other's photos."""
        owner = await session.scalar(select(Image.chat_id).where(Image.id == image_id))
        if owner != chat_id:
            raise NotFoundError(f"chat {chat_id} has no image {image_id}")
