"""Commands: the menu set at start, /start /help /privacy /describe /reset, /forget with its buttons."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.core import texts
from bot.core.speech import Speaker
from inference.ocr import installed_languages
from tests.fakes import photos
from tests.fakes.audio import assert_decodes
from tests.fakes.engine import RecordingEngine
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import (
    ALICE,
    BOB,
    GROUP,
    PRIVATE,
    RunningBot,
    assert_silent,
    image_keys,
    quoted,
    reply_to,
)


async def count_images(bot: RunningBot) -> int:
    async with bot.service.store.engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM images"))).scalar_one()


async def test_the_command_menu_is_registered_at_start(tg: FakeTelegram, bot: RunningBot) -> None:
    params = await tg.wait_for("setMyCommands", timeout=1)
    assert [c["command"] for c in params["commands"]] == [
        "describe", "read", "scan", "light", "colour", "alt", "detail", "voice", "codes", "lighthints",
        "colourcheck", "language", "settings", "reset", "forget", "privacy", "help",
    ]  # fmt: skip
    assert all(c["description"] for c in params["commands"])


async def test_start_help_and_privacy(tg: FakeTelegram, bot: RunningBot) -> None:
    for command in ("/start", "/help"):
        sent = tg.send_command(PRIVATE, command)
        answer = await reply_to(tg, PRIVATE)
        assert (answer["text"], quoted(answer)) == (texts.HELP, sent["message_id"])
    tg.send_command(PRIVATE, "/privacy")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.PRIVACY.format(days=30)


async def test_commands_in_a_group_only_when_meant_for_this_bot(tg: FakeTelegram, bot: RunningBot) -> None:
    tg.send_text(GROUP, "/help@some_other_bot", chat_type="supergroup")
    await assert_silent(tg, GROUP, wait_s=0.3)
    tg.send_command(GROUP, "/help", addressed=True, chat_type="supergroup")
    assert (await reply_to(tg, GROUP))["text"] == texts.HELP


async def test_an_unknown_command_in_private_points_to_help(tg: FakeTelegram, bot: RunningBot) -> None:
    tg.send_command(PRIVATE, "/paint")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.UNKNOWN_COMMAND


async def test_describe_describes_the_current_photo_at_length(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_command(PRIVATE, "/describe")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.NEED_PHOTO
    tg.send_photo(PRIVATE, photos.jpeg())
    await reply_to(tg, PRIVATE)
    described = len(engine.requests)
    tg.send_command(PRIVATE, "/describe")
    await reply_to(tg, PRIVATE)
    again = engine.requests[described:]
    assert again and again[0].prompt == ""
    assert {request.image_key for request in again} == {engine.requests[0].image_key}


async def test_reset_puts_the_photo_aside(tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine) -> None:
    tg.send_photo(PRIVATE, photos.jpeg())
    await reply_to(tg, PRIVATE)
    described = len(engine.requests)
    tg.send_command(PRIVATE, "/reset")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.RESET_DONE
    tg.send_text(PRIVATE, "what is it?")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.NEED_PHOTO
    assert len(engine.requests) == described


async def test_forget_asks_first_and_only_the_asker_can_confirm(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.set_member_status(GROUP, ALICE, "administrator")  # in a group only admins may (test_forget.py)
    tg.set_member_status(GROUP, BOB, "administrator")
    tg.send_photo(GROUP, photos.jpeg(), chat_type="supergroup", caption=f"@{tg.bot_username}")
    await reply_to(tg, GROUP)
    command = tg.send_command(GROUP, "/forget", addressed=True, chat_type="supergroup")
    confirm = await reply_to(tg, GROUP)
    assert confirm["text"] == texts.FORGET_CONFIRM
    buttons = [button["text"] for button in confirm["reply_markup"]["inline_keyboard"][0]]
    assert buttons == [texts.FORGET_YES, texts.FORGET_NO]
    question = tg.message(GROUP, command["message_id"] + 1)
    assert question is not None and question["text"] == texts.FORGET_CONFIRM
    yes = confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

    tg.press_button(question, yes, user_id=BOB)  # someone else in the group
    refused = await tg.wait_for("answerCallbackQuery")
    assert (refused["text"], refused["show_alert"]) == (texts.FORGET_NOT_YOURS, True)
    assert await count_images(bot) == 1

    tg.press_button(question, yes)  # the asker
    edited = await tg.wait_for("editMessageText")
    assert edited["text"] == texts.FORGET_DONE
    assert "inline_keyboard" not in (edited.get("reply_markup") or {})
    assert await count_images(bot) == 0
    tg.mention(GROUP, "what is it?", chat_type="supergroup")
    assert (await reply_to(tg, GROUP))["text"] == texts.NEED_PHOTO


async def test_forget_cancelled_keeps_everything(tg: FakeTelegram, bot: RunningBot) -> None:
    tg.send_photo(PRIVATE, photos.jpeg())
    await reply_to(tg, PRIVATE)
    command = tg.send_command(PRIVATE, "/forget")
    confirm = await reply_to(tg, PRIVATE)
    no = confirm["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    tg.press_button(tg.message(PRIVATE, command["message_id"] + 1), no)
    assert (await tg.wait_for("editMessageText"))["text"] == texts.FORGET_CANCELLED
    assert await count_images(bot) == 1


async def test_settings_are_shown_and_changed_and_detail_applies_to_the_next_photo(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_command(PRIVATE, "/settings")
    assert (await reply_to(tg, PRIVATE))["text"].startswith("Your settings:")
    tg.send_command(PRIVATE, "/detail sideways")
    assert "brief, normal or full" in (await reply_to(tg, PRIVATE))["text"]
    tg.send_command(PRIVATE, "/detail brief")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.setting_changed("detail", "brief")
    tg.send_photo(PRIVATE, photos.jpeg())
    await reply_to(tg, PRIVATE)
    assert engine.prompts == [""]  # brief: the caption alone
    tg.send_command(PRIVATE, "/alt 60")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.setting_changed("alt_text_chars", 60)


async def test_read_and_alt_are_about_the_current_photo(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_command(PRIVATE, "/read")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.NEED_PHOTO
    sign = tg.send_photo(PRIVATE, photos.sign("NO PARKING", "Tow away zone"))
    await reply_to(tg, PRIVATE)
    tg.send_photo(PRIVATE, photos.jpeg())  # a picture without words is now the current photo
    await reply_to(tg, PRIVATE)
    sign_key, plain_key = image_keys(engine)
    described = len(engine.requests)
    ocr = bool(installed_languages())

    read = tg.send_command(PRIVATE, "/read")
    answer = await reply_to(tg, PRIVATE, timeout=30)
    assert quoted(answer) == read["message_id"]
    assert answer["text"] == (texts.NO_TEXT_FOUND if ocr else texts.OCR_UNAVAILABLE)
    assert len(engine.requests) == described  # read by OCR, not guessed by the model

    alt = tg.send_command(PRIVATE, "/alt")
    answer = await reply_to(tg, PRIVATE)
    assert quoted(answer) == alt["message_id"]
    assert 0 < len(answer["text"]) <= 125
    assert [(r.prompt, r.image_key) for r in engine.requests[described:]] == [("", plain_key)]

    read = tg.send_command(PRIVATE, "/read", reply_to_message_id=sign["message_id"])  # an older photo
    answer = await reply_to(tg, PRIVATE, timeout=30)
    assert quoted(answer) == read["message_id"]
    if ocr:
        assert answer["text"].startswith("The text reads:")
        assert "NO PARKING" in answer["text"] and "Tow away zone" in answer["text"]
    else:
        assert answer["text"] == texts.OCR_UNAVAILABLE
    assert len(engine.requests) == described + 1
    assert sign_key != plain_key


async def test_voice_replies_follow_the_text_when_turned_on(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_command(PRIVATE, "/voice on")
    confirmation = (await reply_to(tg, PRIVATE))["text"]
    if not Speaker.available():
        assert confirmation == texts.VOICE_UNAVAILABLE
        pytest.skip("espeak-ng or ffmpeg is not installed")
    assert confirmation == texts.setting_changed("voice", True)
    photo = tg.send_photo(PRIVATE, photos.jpeg(), caption="what is it?")
    answer = await reply_to(tg, PRIVATE)
    voice = await tg.wait_for("sendVoice", timeout=30)
    assert voice["chat_id"] == PRIVATE and "parse_mode" not in voice
    assert voice["caption"] == answer["text"]  # the words it speaks, as plain text
    assert_decodes(voice["voice"].data)
    tg.send_text(PRIVATE, "and the colour?", reply_to_message_id=photo["message_id"] + 2)  # the voice note
    await reply_to(tg, PRIVATE)
    assert len(image_keys(engine)) == 1


async def test_a_sign_is_described_read_voiced_and_given_alt_text(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    """Issue 7 on Telegram, with the real OCR, speech and decoder."""
    if not installed_languages():
        pytest.skip("tesseract-ocr is not installed")
    if not Speaker.available():
        pytest.skip("espeak-ng or ffmpeg is not installed")
    tg.send_command(PRIVATE, "/voice on")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.setting_changed("voice", True)

    photo = tg.send_photo(PRIVATE, photos.sign("NO PARKING", "Tow away zone"))
    description = await reply_to(tg, PRIVATE)
    assert quoted(description) == photo["message_id"]
    assert description["text"].strip() and description["text"] not in (texts.FAILED, texts.NEED_PHOTO)
    assert engine.prompts[0] == ""  # the model described it
    spoken = await tg.wait_for("sendVoice", timeout=30)
    assert spoken["caption"] == description["text"]
    assert_decodes(spoken["voice"].data)

    read = tg.send_command(PRIVATE, "/read")
    answer = await reply_to(tg, PRIVATE, timeout=30)
    assert quoted(answer) == read["message_id"]
    assert answer["text"].startswith("The text reads:")
    assert "NO PARKING" in answer["text"] and "Tow away zone" in answer["text"]
    spoken = await tg.wait_for("sendVoice", timeout=30)
    assert spoken["caption"] == answer["text"]
    assert_decodes(spoken["voice"].data)

    tg.send_command(PRIVATE, "/alt")
    alt = (await reply_to(tg, PRIVATE))["text"]
    assert 0 < len(alt) <= 125
    assert (await tg.wait_for("sendVoice", timeout=30))["caption"] == alt
    assert len(image_keys(engine)) == 1
