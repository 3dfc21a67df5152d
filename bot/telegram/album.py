"""Gathering the photos of a Telegram album, which arrive as separate messages sharing a media_group_id.

The album's first photo owns it: its handler waits until no new photo has arrived for `wait_s`,
then takes them all; the later photos only join it. Photos join as they arrive (`arrive`, called by
`bot.telegram.ordering` before the first photo has its chat's turn), so an album that waits behind
a slow answer in its chat still gathers every photo. Processing stays inside a handler, so PTB's
error handler and graceful stop cover it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from telegram import Message

# An album has at most 10 items and Telegram sends them together; this bounds a slow trickle.
MAX_WAIT_ROUNDS = 10

_Key = tuple[int, str]  # chat, media group
_Ident = tuple[int, int]  # chat, message


@dataclass
class _Album:
    owner: _Ident
    messages: list[Message]
    last_added: float = field(default_factory=lambda: asyncio.get_running_loop().time())


class AlbumCollector:
    """Albums being collected, keyed by chat and media group, and which photo owns which album."""

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self._albums: dict[_Key, _Album] = {}
        self._owns: dict[_Ident, bool] = {}  # photos arrived and not yet done: does it own its album?

    def arrive(self, message: Message) -> bool:
        """Note a photo as it arrives; True if it starts a new album (it owns it), False if it joined one.

        Asking again about the same photo gives the same answer and changes nothing.
        """
        ident = (message.chat_id, message.message_id)
        if ident in self._owns:
            return self._owns[ident]
        key = _key(message)
        album = self._albums.get(key)
        if album is None:
            self._albums[key] = _Album(ident, [message])
        else:
            album.messages.append(message)
            album.last_added = asyncio.get_running_loop().time()
        self._owns[ident] = album is None
        return album is None

    async def collect(self, message: Message) -> list[Message] | None:
        """All messages of `message`'s album in order, for the first one's handler; None for the others."""
        try:
            if not self.arrive(message):
                return None
            album = self._albums[_key(message)]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.wait_s * MAX_WAIT_ROUNDS
            while (quiet_until := min(album.last_added + self.wait_s, deadline)) > loop.time():
                await asyncio.sleep(quiet_until - loop.time())
            return sorted(album.messages, key=lambda m: m.message_id)
        finally:
            self.done(message)  # a photo arriving later starts an album of its own

    def done(self, message: Message) -> None:
        """The photo's update is over: forget it, and its album if it owns one nobody collected."""
        ident = (message.chat_id, message.message_id)
        if not self._owns.pop(ident, False):
            return
        key = _key(message)
        album = self._albums.get(key)
        if album is not None and album.owner == ident:
            del self._albums[key]


def _key(message: Message) -> _Key:
    return (message.chat_id, str(message.media_group_id))
