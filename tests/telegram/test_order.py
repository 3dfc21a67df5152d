"""A chat's updates in the order they were sent (bot/telegram/ordering.py); chats still side by side.

A slow engine stands in for the model, so that without the ordering a question sent right after its
photo is handled first, finds no photo yet and is answered "Please send me a photo first".
"""

from __future__ import annotations

import pytest

from bot.core import texts
from bot.telegram.ordering import ChatOrder
from tests.fakes import photos
from tests.fakes.engine import FakeEngine
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import (
    OTHER_PRIVATE,
    PRIVATE,
    RunningBot,
    quoted,
    wait_until,
)

CHATS = (PRIVATE, OTHER_PRIVATE, 44, 45)
QUESTIONS = 4
PLACES_IN_LINE = frozenset(texts.place_in_line(n) for n in range(1, 100))


@pytest.fixture
def engine() -> FakeEngine:
    """Slow enough that updates sent at once are all in progress before the first answer."""
    return FakeEngine(delay_s=0.15)


def timeline(tg: FakeTelegram, chat_id: int) -> list[tuple[int, str]]:
    """(the user's message it answers, text) of each message the bot sent or edited in the chat, in order.

    An edit turns a place-in-line message into its answer; it answers what that message quoted.
    """
    events: list[tuple[int, str]] = []
    for method, params in tg.calls:
        if params.get("chat_id") != chat_id:
            continue
        if method == "sendMessage" and (about := quoted(params)) is not None:
            events.append((about, params["text"]))
        elif method == "editMessageText":
            placeholder = tg.message(chat_id, params["message_id"]) or {}
            events.append((placeholder["reply_to_message"]["message_id"], params["text"]))
    return events


def answered(tg: FakeTelegram, chat_id: int) -> list[int]:
    """The user's messages the bot has answered in the chat (not just shown a place in line for)."""
    return [about for about, text in timeline(tg, chat_id) if text not in PLACES_IN_LINE]


def typing_started(tg: FakeTelegram, chat_id: int) -> int:
    """The index among all calls of the first "typing" in the chat: its first answer has begun."""
    return next(
        index
        for index, (method, params) in enumerate(tg.calls)
        if method == "sendChatAction" and params.get("chat_id") == chat_id
    )


def first_answer(tg: FakeTelegram, chat_id: int) -> int:
    return next(
        index
        for index, (method, params) in enumerate(tg.calls)
        if method in ("sendMessage", "editMessageText")
        and params.get("chat_id") == chat_id
        and params["text"] not in PLACES_IN_LINE
    )


async def test_questions_sent_right_after_a_photo_are_answered_after_it_in_order(
    tg: FakeTelegram, bot: RunningBot
) -> None:
    sent = {
        chat: [tg.send_photo(chat, photos.jpeg(seed=chat))]
        + [tg.send_text(chat, f"question {n}?") for n in range(1, QUESTIONS + 1)]
        for chat in CHATS
    }
    await wait_until(lambda: all(len(answered(tg, chat)) == QUESTIONS + 1 for chat in CHATS), timeout=60)
    for chat, messages in sent.items():
        events = timeline(tg, chat)
        assert texts.NEED_PHOTO not in [text for _, text in events]
        # Each message's answer (and any place in line before it) comes before anything about the next.
        assert [about for about, _ in events] == sorted(about for about, _ in events)
        assert answered(tg, chat) == [m["message_id"] for m in messages]
    app = bot.adapter.application
    assert app is not None and isinstance(app.update_processor, ChatOrder)
    processor = app.update_processor
    await wait_until(lambda: processor.busy_chats == 0)  # the queues of idle chats are dropped


async def test_different_chats_are_answered_side_by_side(
    tg: FakeTelegram, bot: RunningBot, engine: FakeEngine
) -> None:
    engine.delay_s = 0.5
    tg.send_photo(PRIVATE, photos.jpeg(seed=1))
    tg.send_photo(OTHER_PRIVATE, photos.jpeg(seed=2))
    await wait_until(lambda: all(len(answered(tg, chat)) == 1 for chat in (PRIVATE, OTHER_PRIVATE)))
    # Each chat's answer had begun before the other chat's answer was sent.
    assert typing_started(tg, OTHER_PRIVATE) < first_answer(tg, PRIVATE)
    assert typing_started(tg, PRIVATE) < first_answer(tg, OTHER_PRIVATE)


async def test_an_album_waiting_behind_a_photo_still_gathers_and_a_question_waits_for_it(
    tg: FakeTelegram, bot: RunningBot, engine: FakeEngine
) -> None:
    engine.delay_s = 0.4
    first = tg.send_photo(PRIVATE, photos.jpeg(seed=1), caption="what is it?")
    album = [tg.send_photo(PRIVATE, photos.jpeg(seed=s), media_group_id="trip") for s in (2, 3)]
    question = tg.send_text(PRIVATE, "which one is brighter?")
    await wait_until(lambda: len(answered(tg, PRIVATE)) == 4, timeout=30)
    events = [(about, text) for about, text in timeline(tg, PRIVATE) if text not in PLACES_IN_LINE]
    assert [about for about, _ in events] == [
        first["message_id"],
        album[0]["message_id"],
        album[1]["message_id"],
        question["message_id"],
    ]
    assert events[1][1].startswith("Photo 1 of 2: ") and events[2][1].startswith("Photo 2 of 2: ")
    assert texts.NEED_PHOTO not in [text for _, text in events]


async def test_at_a_stop_updates_still_waiting_their_turn_are_told_and_not_started(
    tg: FakeTelegram, bot: RunningBot, engine: FakeEngine
) -> None:
    bot.adapter.stop_grace_s = 0.2
    engine.delay_s = 1.0
    tg.send_photo(PRIVATE, photos.jpeg(), caption="what is it?")
    tg.send_text(PRIVATE, "and the colour?")
    tg.send_text(PRIVATE, "and the size?")
    await wait_until(lambda: len(engine.batches) == 1)
    await wait_until(lambda: [m for m, p in tg.calls if m == "getUpdates" and p.get("offset", 0) > 3] != [])
    await bot.stop()
    assert [m["text"] for m in tg.sent_messages(PRIVATE)] == [texts.STOPPING] * 3
    assert len(engine.batches) == 1
