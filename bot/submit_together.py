"""Let the photos of one album reach the inference queue in the same moment, to share a batch.

The worker starts a lone request at once, to keep single answers fast; an album's photos reach
the queue a few milliseconds apart (each reads the store first), so without this they would run
one batch after another. Each photo's task holds at the queue's door until every other photo has
either arrived there too or finished without needing the model (an error, a text reading); then
they go through in the album's order, so the batch (and any scripted test answer) follows it.
"""

from __future__ import annotations

import asyncio
import contextvars


class SubmitTogether:
    """A door that opens once all `members` have arrived at it or left, letting them through in order."""

    def __init__(self, members: int) -> None:
        self._waiting = members
        self._turns: dict[int, asyncio.Future[None]] = {}
        self._opened = False

    def leave(self) -> None:
        self._waiting -= 1
        if self._waiting <= 0 and not self._opened:
            self._opened = True
            # Released on the next turn of the loop, so the member that opened the door waits too.
            asyncio.get_running_loop().call_soon(self._release)

    def _release(self) -> None:
        for index in sorted(self._turns):  # each wakes in this order
            if not self._turns[index].done():
                self._turns[index].set_result(None)

    async def arrive(self, index: int) -> bool:
        """Wait for the others; True for the album's first photo among those that arrived."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._turns[index] = turn
        self.leave()
        await turn
        return index == min(self._turns)


#: Set in each album photo's own task (asyncio.gather copies the context per task); cleared on arrival.
DOOR: contextvars.ContextVar[tuple[SubmitTogether, int] | None] = contextvars.ContextVar(
    "blipbot_album_door", default=None
)


async def at_the_door() -> bool:
    """Called just before submitting: waits for the album's other photos, if this is one.

    True when this request is the one to report the place in line: not part of an album, or the
    album's first photo (the others would count their own album as ahead of them).
    """
    member = DOOR.get()
    if member is None:
        return True
    DOOR.set(None)
    door, index = member
    return await door.arrive(index)


def left_without_arriving(door: SubmitTogether) -> None:
    """Called when a photo's task ends: if it never reached the queue, stop waiting for it."""
    if DOOR.get() is not None:
        DOOR.set(None)
        door.leave()
