"""Every authorised request the bot made, in arrival order, and waiting for the one a test expects.

Waiters sleep on the Signal shared with BotApi, which wakes on each request and answer, and re-check.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.telegram_methods import Signal

RECENT_CALLS_SHOWN = 12

Params = dict[str, Any]


@dataclass
class LoggedCall:
    method: str
    params: Params
    answered: bool = False  # getUpdates stays unanswered while it long-polls
    ok: bool = False


class CallLog:
    """The calls in arrival order, including unanswered long polls and injected faults."""

    def __init__(self, signal: Signal) -> None:
        self._signal = signal
        self.entries: list[LoggedCall] = []
        self._claimed: set[int] = set()  # indices into entries already returned by wait_for

    def record(self, method: str, params: Params) -> LoggedCall:
        """Log a call as it arrives, before it is answered."""
        call = LoggedCall(method, params)
        self.entries.append(call)
        self._signal.notify()
        return call

    def mark_answered(self, call: LoggedCall) -> None:
        call.answered = True
        self._signal.notify()

    def sent_messages(self, chat_id: int | str | None = None) -> list[Params]:
        """Params of successful sendMessage calls, optionally only those to `chat_id`."""
        return [
            call.params
            for call in self.entries
            if call.ok
            and call.method.lower() == "sendmessage"
            and chat_id in (None, call.params.get("chat_id"))
        ]

    async def wait_for(
        self, method: str, predicate: Callable[[Params], bool] | None = None, timeout: float = 10.0
    ) -> Params:
        """Return the params of the earliest matching answered call that no earlier wait_for returned.

        Waits up to `timeout` seconds for the fake to answer it, so its effects (a stored message, an
        entry in `sent_messages`) are visible on return; calls answered with an injected fault count.
        """

        def find() -> Params | None:
            for index, call in enumerate(self.entries):
                if index in self._claimed or not call.answered or call.method.lower() != method.lower():
                    continue
                if predicate is None or predicate(call.params):
                    self._claimed.add(index)
                    return call.params
            return None

        return await self._wait_until(find, timeout, f"a {method} call")

    async def wait_for_count(self, method: str, n: int, timeout: float = 10.0) -> list[Params]:
        """Wait until at least `n` calls of `method` were answered; return all of their params."""

        def find() -> list[Params] | None:
            found = [c.params for c in self.entries if c.answered and c.method.lower() == method.lower()]
            return found if len(found) >= n else None

        return await self._wait_until(find, timeout, f"{n} {method} calls")

    async def _wait_until(self, find: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while (found := find()) is None:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no {what} within {timeout}s; {self._describe_recent_calls()}")
            await self._signal.wait(remaining)
        return found

    def _describe_recent_calls(self) -> str:
        # getUpdates polls are noise when explaining why a reply never came.
        recent = [call for call in self.entries if call.method != "getUpdates"][-RECENT_CALLS_SHOWN:]
        if not recent:
            return "the bot made no calls besides getUpdates"
        lines = [f"  {call.method}{_outcome(call)} {_short(call.params)}" for call in recent]
        return "recent calls, getUpdates omitted:\n" + "\n".join(lines)


def _outcome(call: LoggedCall) -> str:
    if not call.answered:
        return " (unanswered)"
    return "" if call.ok else " (failed)"


def _short(params: Params) -> str:
    text = json.dumps(params, default=repr, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."
