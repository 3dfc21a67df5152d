"""Each chat's updates one after another, in the order Telegram sent them; different chats side by side.

PTB runs updates concurrently (one slow answer must not hold up everyone else's), so without this a
question sent right after its photo could be handled first and find no photo yet. `ChatOrder` is
PTB's update processor: it gives every chat a queue, joined in arrival order before anything
awaits, so a chat's next update starts only when its previous one has finished.

The photos of an album are the exception: they arrive as separate updates, and the album's first
photo waits (in its chat's queue, like any update) while the others gather behind it. So the
others join the album as they arrive (`AlbumCollector.arrive`) and skip the queue: their handler
only finds that the album already holds them. An album thus takes one place in its chat's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Message, Update
from telegram.ext import BaseUpdateProcessor

from bot.telegram.album import AlbumCollector
from bot.telegram.messages import has_attachment

#: Updates being handled at once, in different chats: PTB's own default, as before chats took turns.
MAX_RUNNING_UPDATES = 256
#: Updates in progress, handled or waiting: PTB counts the waiting ones too, so this is far above
#: MAX_RUNNING_UPDATES, and a chat that sends many messages in a burst delays only itself.
MAX_UPDATES_IN_PROGRESS = 4096


@dataclass
class _ChatQueue:
    """The updates of one chat being handled or waiting: the lock is FIFO, `users` counts them all."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class ChatOrder(BaseUpdateProcessor):
    """PTB's update processor (`ApplicationBuilder.concurrent_updates`): one queue per chat.

    A queue exists only while its chat has updates in progress, so the map stays as small as the
    number of busy chats. At most `max_running` updates (each its chat's turn) run at once, so the
    downloads and answers in progress stay bounded. Updates without a chat (none of the kinds the bot
    asks for) run at once.
    """

    def __init__(
        self,
        albums: AlbumCollector,
        max_running: int = MAX_RUNNING_UPDATES,
        max_in_progress: int = MAX_UPDATES_IN_PROGRESS,
    ) -> None:
        super().__init__(max(max_in_progress, max_running))
        self.albums = albums
        self._queues: dict[int, _ChatQueue] = {}
        self._running = asyncio.Semaphore(max_running)

    @property
    def busy_chats(self) -> int:
        """How many chats have updates being handled or waiting (for tests and logs)."""
        return len(self._queues)

    async def initialize(self) -> None:
        """Nothing to set up: the queues are made as chats need them."""

    async def shutdown(self) -> None:
        """Nothing to free: `Application.stop` has waited for every update by now."""
        self._queues.clear()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat_id = _chat_id(update)
        if chat_id is None:
            await coroutine
            return
        photo = _album_photo(update)
        if photo is not None and not self.albums.arrive(photo):
            try:  # the album's first photo holds the chat's place in line; this one is already in it
                await coroutine
            finally:
                self.albums.done(photo)
            return
        started = False
        try:
            async with self._turn(chat_id), self._running:
                started = True
                await coroutine
        finally:
            if not started and inspect.iscoroutine(coroutine):
                coroutine.close()  # cancelled while waiting its turn: never started, so never awaited
            if photo is not None:
                self.albums.done(photo)  # in case no handler collected it (a refused chat, say)

    @contextlib.asynccontextmanager
    async def _turn(self, chat_id: int) -> AsyncIterator[None]:
        """Wait for the chat's earlier updates to finish (asyncio.Lock wakes its waiters in order)."""
        queue = self._queues.get(chat_id)
        if queue is None:
            queue = self._queues[chat_id] = _ChatQueue()
        queue.users += 1  # counted before the first await, so an idle queue is never dropped while joined
        try:
            async with queue.lock:
                yield
        finally:
            queue.users -= 1
            if queue.users == 0:
                del self._queues[chat_id]


def _chat_id(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_chat is not None:
        return update.effective_chat.id
    return None


def _album_photo(update: object) -> Message | None:
    """A new message (not an edit) that is a photo or file of an album, as the attachment handler takes."""
    if not isinstance(update, Update) or update.message is None:
        return None
    message = update.message
    return message if message.media_group_id is not None and has_attachment(message) else None
