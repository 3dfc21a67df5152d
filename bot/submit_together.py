"""Let the photos of one album reach the inference queue in the same moment, to share a batch.

The worker starts a lone request at once, to keep single answers fast; an album's photos reach
the queue a few milliseconds apart (each reads the store first), so without this they would run
one batch after another. Each photo's task holds at the queue's door until every other photo has
either arrived there too or finished without needing the model (an error, a text reading).
"""

from __future__ import annotations

import asyncio
import contextvars


class SubmitTogether:
    """A door that opens once all `members` have arrived at it or left."""

    def __init__(self, members: int) -> None:
        self._waiting = members
        self._open = asyncio.Event()
        if members <= 0:
            self._open.set()

    def leave(self) -> None:
        self._waiting -= 1
        if self._waiting <= 0:
            self._open.set()

    async def arrive(self) -> None:
        self.leave()
        await self._open.wait()


#: Set in each album photo's own task (asyncio.gather copies the context per task); cleared on arrival.
DOOR: contextvars.ContextVar[SubmitTogether | None] = contextvars.ContextVar(
    "blipbot_album_door", default=None
)


async def at_the_door() -> None:
    """Called just before submitting: waits for the album's other photos, if this is one."""
    door = DOOR.get()
    if door is not None:
        DOOR.set(None)
        await door.arrive()


def left_without_arriving(door: SubmitTogether) -> None:
    """Called when a photo's task ends: if it never reached the queue, stop waiting for it."""
    if DOOR.get() is not None:
        DOOR.set(None)
        door.leave()
