"""ChatOrder on its own (bot/telegram/ordering.py): turns per chat, the bound on running updates, cleanup."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from telegram import Update

from bot.telegram.album import AlbumCollector
from bot.telegram.ordering import ChatOrder
from tests.fakes import telegram_objects as tgo


def update(chat_id: int, update_id: int) -> Update:
    sender = tgo.user(chat_id)
    message = {
        "message_id": update_id,
        "date": 0,
        "chat": tgo.chat(chat_id, "private", sender),
        "from": sender,
        "text": "hello",
    }
    return Update.de_json({"update_id": update_id, "message": message}, None)


class Recorder:
    """Handlers that take a while and note when each starts and ends, and how many run at once."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []
        self.running = 0
        self.most_running = 0

    async def handle(self, chat_id: int, update_id: int, seconds: float = 0.05) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.events.append(("start", chat_id, update_id))
        await asyncio.sleep(seconds)
        self.events.append(("end", chat_id, update_id))
        self.running -= 1

    def of(self, chat_id: int) -> list[tuple[str, int]]:
        return [(kind, update_id) for kind, chat, update_id in self.events if chat == chat_id]


async def test_a_chats_updates_run_one_after_another_and_chats_side_by_side_up_to_the_bound() -> None:
    order = ChatOrder(AlbumCollector(wait_s=0.05), max_running=2)
    recorder = Recorder()
    sent = [(1, 1), (2, 2), (1, 3), (3, 4), (1, 5)]
    await asyncio.gather(
        *(order.process_update(update(chat, n), recorder.handle(chat, n)) for chat, n in sent)
    )
    assert recorder.of(1) == [("start", 1), ("end", 1), ("start", 3), ("end", 3), ("start", 5), ("end", 5)]
    assert recorder.most_running == 2
    assert order.busy_chats == 0


async def test_an_update_cancelled_while_waiting_its_turn_frees_the_line_and_is_never_started() -> None:
    order = ChatOrder(AlbumCollector(wait_s=0.05))
    recorder = Recorder()
    first = asyncio.create_task(order.process_update(update(1, 1), recorder.handle(1, 1, seconds=0.2)))
    never_started = recorder.handle(1, 2)
    waiting = asyncio.create_task(order.process_update(update(1, 2), never_started))
    third = asyncio.create_task(order.process_update(update(1, 3), recorder.handle(1, 3)))
    await asyncio.sleep(0.05)
    waiting.cancel()
    await asyncio.gather(first, third, waiting, return_exceptions=True)
    assert recorder.of(1) == [("start", 1), ("end", 1), ("start", 3), ("end", 3)]
    # Closed, so Python does not warn that it was never awaited.
    assert inspect.getcoroutinestate(never_started) == inspect.CORO_CLOSED
    assert order.busy_chats == 0


async def test_updates_without_a_chat_run_at_once() -> None:
    order = ChatOrder(AlbumCollector(wait_s=0.05))
    done: list[Any] = []

    async def handle() -> None:
        done.append(True)

    await order.process_update(object(), handle())
    assert done == [True] and order.busy_chats == 0
