"""The Discord requests being answered right now: counted, so that a stop can let them finish first,
and lined up per conversation, so that a question never overtakes the picture sent before it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

#: What a request does when it has to wait for its turn: acknowledge an interaction, say.
OnWait = Callable[[], Awaitable[None]]
#: How long a request waits for its turn before `on_wait`: most waits are a few milliseconds (the
#: request ahead is storing its links). Kept short because Discord's 3 seconds also pay for a busy
#: event loop and the network: under a burst of 200 interactions a 1 s patience ended up acknowledging
#: after 2 to 3 seconds, and some too late to be answered at all.
PATIENCE_S = 0.25


class InFlight:
    """Counts the requests being answered, and gives each conversation's requests their turns in order.

    `closing` is set when the adapter stops: handlers then say so instead of starting new work.
    """

    def __init__(self) -> None:
        self.closing = False
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Per conversation, the requests in arrival order; the first one has the turn.
        self._lines: dict[str, deque[asyncio.Future[None]]] = {}

    @property
    def busy_conversations(self) -> int:
        """How many conversations have requests being answered or waiting (for tests and logs)."""
        return len(self._lines)

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self.count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    @contextlib.asynccontextmanager
    async def turn(self, conversation: str, on_wait: OnWait | None = None) -> AsyncIterator[None]:
        """Tracked, and after the conversation's earlier requests: discord.py runs each event as a task
        of its own, so without this a question could be answered before the picture it is about.

        The request takes its place in line before anything awaits, so places follow arrival order.
        `on_wait` runs if the turn has not come within `PATIENCE_S`: an interaction must be
        acknowledged within 3 seconds, however long the answers ahead of it take. Conversations are
        separate (a person in a channel, as `chat_ref` keys them), so different people and channels
        still go side by side.
        """
        async with self.track():
            line = self._lines.setdefault(conversation, deque())
            mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            line.append(mine)
            if len(line) == 1:
                mine.set_result(None)
            try:
                if not mine.done() and on_wait is not None:
                    try:
                        await asyncio.wait_for(asyncio.shield(mine), PATIENCE_S)
                    except TimeoutError:
                        await on_wait()
                await mine
                yield
            finally:
                # The first in line holds the turn (even when cancelled as it got it): pass it on.
                holds_turn = line[0] is mine
                line.remove(mine)
                if holds_turn and line and not line[0].done():
                    line[0].set_result(None)
                if not line:
                    del self._lines[conversation]

    async def wait_idle(self, timeout_s: float) -> bool:
        """Whether everything finished within `timeout_s`."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
