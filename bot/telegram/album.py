"""Gathering the photos of a Telegram album, which arrive as separate messages sharing a media_group_id.

The handler of the first message owns the album: it waits until no new photo has arrived for
`wait_s`, then takes them all; the handlers of the later messages only add theirs and return.
Processing stays inside a handler, so PTB's error handler and graceful stop cover it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from telegram import Message

# An album has at most 10 items and Telegram sends them together; this bounds a slow trickle.
MAX_WAIT_ROUNDS = 10


@dataclass
class _Album:
    messages: list[Message]
    last_added: float = field(default_factory=lambda: asyncio.get_running_loop().time())


class AlbumCollector:
    """Albums being collected, keyed by chat and media group."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self._albums: dict[tuple[int, str], _Album] = {}

    async def collect(self, message: Message) -> list[Message] | None:
        """All messages of `message`'s album in order, for the first one's handler; None for the others."""
        key = (message.chat_id, str(message.media_group_id))
        album = self._albums.get(key)
        if album is not None:
            album.messages.append(message)
            album.last_added = asyncio.get_running_loop().time()
            return None
        album = self._albums[key] = _Album([message])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s * MAX_WAIT_ROUNDS
        try:
            while (quiet_until := min(album.last_added + self.wait_s, deadline)) > loop.time():
                await asyncio.sleep(quiet_until - loop.time())
        finally:
            del self._albums[key]  # a photo arriving later starts an album of its own
        return sorted(album.messages, key=lambda m: m.message_id)
