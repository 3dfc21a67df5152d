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
        self._arrived = 0
        self._open = asyncio.Event()
        if members <= 0:
            self._open.set()

    def leave(self) -> None:
        self._waiting -= 1
        if self._waiting <= 0:
            self._open.set()

    async def arrive(self) -> bool:
        """Wait for the others; True for the first to arrive, which the door lets through first."""
        self._arrived += 1
        first = self._arrived == 1
        self.leave()
        if self._open.is_set():
            await asyncio.sleep(0)  # the last to arrive opened the door: let the earlier ones go first
        else:
            await self._open.wait()  # asyncio wakes waiters in the order they began to wait
        return first


#: Set in each album photo's own task (asyncio.gather copies the context per task); cleared on arrival.
DOOR: contextvars.ContextVar[SubmitTogether | None] = contextvars.ContextVar(
    "blipbot_album_door", default=None
)


async def at_the_door() -> bool:
    """Called just before submitting: waits for the album's other photos, if this is one.

    True when this request is the one to report the place in line: not part of an album, or the
    album's first to be submitted (the others would count their own album as ahead of them).
    """
    door = DOOR.get()
    if door is None:
        return True
    DOOR.set(None)
    return await door.arrive()


def left_without_arriving(door: SubmitTogether) -> None:
    """Called when a photo's task ends: if it never reached the queue, stop waiting for it."""
    if DOOR.get() is not None:
        DOOR.set(None)
        door.leave()
