"""/forget in a group deletes everyone's history, so only the group's admins may ask or confirm it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from bot.core import texts
from tests.fakes import photos
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import (
    ALICE,
    BOB,
    GROUP,
    OTHER_PRIVATE,
    PRIVATE,
    RunningBot,
    StartBot,
    quoted,
    reply_to,
)


async def stored(bot: RunningBot) -> tuple[int, int]:
    """How many photos and turns the store holds, for every chat."""
    async with bot.service.store.engine.connect() as conn:
        images = (await conn.execute(text("SELECT count(*) FROM images"))).scalar_one()
        turns = (await conn.execute(text("SELECT count(*) FROM turns"))).scalar_one()
    return images, turns


async def group_history(tg: FakeTelegram) -> None:
    """Alice's photo in the group, described: the group's history."""
    tg.send_photo(GROUP, photos.jpeg(), chat_type="supergroup", caption=f"@{tg.bot_username}")
    await reply_to(tg, GROUP)


def yes_button(confirm: dict[str, Any]) -> str:
    return str(confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"])


def member_checks(tg: FakeTelegram) -> list[tuple[int, int]]:
    return [(p["chat_id"], p["user_id"]) for method, p in tg.calls if method == "getChatMember"]


@pytest.mark.parametrize("status", ["member", "restricted"])
async def test_a_members_forget_in_a_group_is_refused_and_the_history_stays(
    tg: FakeTelegram, bot: RunningBot, status: str
) -> None:
    await group_history(tg)
    before = await stored(bot)
    tg.set_member_status(GROUP, BOB, status)
    command = tg.send_command(GROUP, "/forget", addressed=True, chat_type="supergroup", user_id=BOB)
    refusal = await reply_to(tg, GROUP)
    assert (refusal["text"], quoted(refusal)) == (texts.FORGET_ADMINS_ONLY, command["message_id"])
    assert "reply_markup" not in refusal  # no buttons to press
    assert member_checks(tg) == [(GROUP, BOB)]
    assert before[0] == 1 and await stored(bot) == before


@pytest.mark.parametrize("status", ["creator", "administrator"])
async def test_an_admins_forget_in_a_group_deletes_the_groups_history(
    tg: FakeTelegram, bot: RunningBot, status: str
) -> None:
    await group_history(tg)
    tg.set_member_status(GROUP, BOB, status)
    command = tg.send_command(GROUP, "/forget", addressed=True, chat_type="supergroup", user_id=BOB)
    confirm = await reply_to(tg, GROUP)
    assert confirm["text"] == texts.FORGET_CONFIRM
    tg.press_button(tg.message(GROUP, command["message_id"] + 1), yes_button(confirm), user_id=BOB)
    assert (await tg.wait_for("editMessageText"))["text"] == texts.FORGET_DONE
    assert await stored(bot) == (0, 0)  # Alice's photo too: the group's history is one
    assert member_checks(tg) == [(GROUP, BOB), (GROUP, BOB)]  # asked, then confirmed: both checked


async def test_an_admin_who_lost_the_rights_before_confirming_is_refused(
    tg: FakeTelegram, bot: RunningBot
) -> None:
    await group_history(tg)
    before = await stored(bot)
    tg.set_member_status(GROUP, BOB, "administrator")
    command = tg.send_command(GROUP, "/forget", addressed=True, chat_type="supergroup", user_id=BOB)
    confirm = await reply_to(tg, GROUP)
    question = tg.message(GROUP, command["message_id"] + 1)
    tg.set_member_status(GROUP, BOB, "member")
    tg.press_button(question, yes_button(confirm), user_id=BOB)
    refused = await tg.wait_for("answerCallbackQuery")
    assert (refused["text"], refused["show_alert"]) == (texts.FORGET_ADMINS_ONLY, True)
    assert await stored(bot) == before
    no = confirm["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    tg.press_button(question, no, user_id=BOB)  # keeping everything needs no rights
    assert (await tg.wait_for("editMessageText"))["text"] == texts.FORGET_CANCELLED


async def test_an_anonymous_admins_forget_can_be_confirmed_by_any_admin_only(
    tg: FakeTelegram, bot: RunningBot
) -> None:
    await group_history(tg)
    command = tg.send_as_group(GROUP, f"/forget@{tg.bot_username}")
    confirm = await reply_to(tg, GROUP)  # posting as the group is for admins only: no check needed
    assert confirm["text"] == texts.FORGET_CONFIRM
    question = tg.message(GROUP, command["message_id"] + 1)
    tg.press_button(question, yes_button(confirm), user_id=BOB)
    refused = await tg.wait_for("answerCallbackQuery")
    assert refused["text"] == texts.FORGET_ADMINS_ONLY
    assert (await stored(bot))[0] == 1
    tg.set_member_status(GROUP, ALICE, "creator")
    tg.press_button(question, yes_button(confirm), user_id=ALICE)
    assert (await tg.wait_for("editMessageText"))["text"] == texts.FORGET_DONE
    assert await stored(bot) == (0, 0)


async def test_in_a_private_chat_forget_works_without_asking_telegram(
    tg: FakeTelegram, bot: RunningBot
) -> None:
    tg.send_photo(PRIVATE, photos.jpeg())
    await reply_to(tg, PRIVATE)
    command = tg.send_command(PRIVATE, "/forget")
    confirm = await reply_to(tg, PRIVATE)
    tg.press_button(tg.message(PRIVATE, command["message_id"] + 1), yes_button(confirm))
    assert (await tg.wait_for("editMessageText"))["text"] == texts.FORGET_DONE
    assert await stored(bot) == (0, 0)
    assert member_checks(tg) == []


async def test_a_button_pressed_in_a_chat_outside_allowed_chats_is_refused(
    tg: FakeTelegram, start_bot: StartBot
) -> None:
    bot = await start_bot(telegram={"allowed_chats": [PRIVATE]})
    tg.send_photo(PRIVATE, photos.jpeg())
    await reply_to(tg, PRIVATE)
    before = await stored(bot)
    elsewhere = tg.send_text(OTHER_PRIVATE, "hello")
    assert (await reply_to(tg, OTHER_PRIVATE))["text"] == texts.NOT_ALLOWED
    tg.press_button(elsewhere, f"forget:yes:{OTHER_PRIVATE}")
    refused = await tg.wait_for("answerCallbackQuery")
    assert refused["text"] == texts.NOT_ALLOWED
    assert await stored(bot) == before
