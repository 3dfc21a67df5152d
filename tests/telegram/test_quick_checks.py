"""/scan, /light, /colour (and /color) and the /codes and /lighthints switches, through the real PTB
client against the fake Bot API: answered like /read, about the current photo or the one replied to."""

from __future__ import annotations

import pytest
from PIL import Image

from bot.core import texts
from inference.ocr import installed_languages
from tests.fakes import photos
from tests.fakes.codes import MENU_CODE_SENTENCE, dark_photo, menu_photo, scene
from tests.fakes.engine import RecordingEngine
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import PRIVATE, RunningBot, quoted, reply_to


async def test_scan_says_the_code_of_the_current_photo_or_the_one_replied_to(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    menu = tg.send_photo(PRIVATE, menu_photo())
    description = (await reply_to(tg, PRIVATE))["text"]
    assert description.startswith(MENU_CODE_SENTENCE)  # said first, before the model's words

    scan = tg.send_command(PRIVATE, "/scan")
    answer = await reply_to(tg, PRIVATE, timeout=30)
    assert (quoted(answer), answer["text"]) == (scan["message_id"], MENU_CODE_SENTENCE)

    tg.send_photo(PRIVATE, photos.encode(scene(seed=3), "JPEG", quality=90))  # no code: now current
    await reply_to(tg, PRIVATE)
    described = len(engine.requests)
    tg.send_command(PRIVATE, "/scan")
    assert (await reply_to(tg, PRIVATE, timeout=30))["text"] == texts.NO_CODES
    tg.send_command(PRIVATE, "/scan", reply_to_message_id=menu["message_id"])  # the older photo
    assert (await reply_to(tg, PRIVATE, timeout=30))["text"] == MENU_CODE_SENTENCE
    assert len(engine.requests) == described  # no model work for a check


async def test_each_check_before_any_photo_asks_for_one(tg: FakeTelegram, bot: RunningBot) -> None:
    for command in ("/scan", "/light", "/colour", "/color"):
        sent = tg.send_command(PRIVATE, command)
        answer = await reply_to(tg, PRIVATE)
        assert (quoted(answer), answer["text"]) == (sent["message_id"], texts.NEED_PHOTO)


async def test_light_and_colour_answer_in_plain_sentences(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_photo(PRIVATE, dark_photo())
    await reply_to(tg, PRIVATE)
    light = tg.send_command(PRIVATE, "/light")
    answer = await reply_to(tg, PRIVATE, timeout=30)
    assert quoted(answer) == light["message_id"]
    assert answer["text"].startswith(texts.IT_IS_DARK)
    assert "parse_mode" not in answer

    red = Image.new("RGB", (400, 300), (200, 20, 30))
    tg.send_photo(PRIVATE, photos.encode(red, "JPEG", quality=95))
    await reply_to(tg, PRIVATE)
    described = len(engine.requests)
    for command in ("/colour", "/color"):
        tg.send_command(PRIVATE, command)
        colour = (await reply_to(tg, PRIVATE, timeout=30))["text"]
        assert colour == "Red."
    assert len(engine.requests) == described


async def test_codes_off_leaves_the_code_out_of_descriptions_but_scan_still_works(
    tg: FakeTelegram, bot: RunningBot
) -> None:
    tg.send_command(PRIVATE, "/codes sideways")
    assert "on or off" in (await reply_to(tg, PRIVATE))["text"]
    tg.send_command(PRIVATE, "/codes off")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.setting_changed("codes", False)
    tg.send_command(PRIVATE, "/lighthints off")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.setting_changed("light_hints", False)
    tg.send_command(PRIVATE, "/settings")
    summary = (await reply_to(tg, PRIVATE))["text"]
    assert "QR codes and barcodes: off." in summary and "Light hints: off." in summary

    menu = tg.send_photo(PRIVATE, menu_photo())
    description = (await reply_to(tg, PRIVATE))["text"]
    assert description.strip() and MENU_CODE_SENTENCE not in description
    tg.send_photo(PRIVATE, dark_photo())
    assert texts.VERY_DARK_HINT not in (await reply_to(tg, PRIVATE))["text"]
    tg.send_command(PRIVATE, "/scan", reply_to_message_id=menu["message_id"])  # asked for, still found
    assert (await reply_to(tg, PRIVATE, timeout=30))["text"] == MENU_CODE_SENTENCE

    tg.send_command(PRIVATE, "/codes on")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.setting_changed("codes", True)
    tg.send_photo(PRIVATE, menu_photo())
    assert (await reply_to(tg, PRIVATE))["text"].startswith(MENU_CODE_SENTENCE)


async def test_colour_names_both_halves_of_a_split_and_calls_navy_navy(
    tg: FakeTelegram, bot: RunningBot
) -> None:
    split = Image.new("RGB", (400, 300), (200, 25, 30))
    split.paste((25, 50, 190), (200, 0, 400, 300))
    tg.send_photo(PRIVATE, photos.encode(split, "JPEG", quality=95))
    await reply_to(tg, PRIVATE)
    tg.send_command(PRIVATE, "/colour")
    said = (await reply_to(tg, PRIVATE, timeout=30))["text"].lower()
    assert "red" in said and "blue" in said

    tg.send_photo(PRIVATE, photos.encode(Image.new("RGB", (400, 300), (20, 30, 90)), "JPEG", quality=95))
    await reply_to(tg, PRIVATE)
    tg.send_command(PRIVATE, "/colour")
    said = (await reply_to(tg, PRIVATE, timeout=30))["text"].lower()
    assert "navy" in said or "dark blue" in said


async def test_read_of_a_sign_cut_off_at_the_right_edge_says_so(tg: FakeTelegram, bot: RunningBot) -> None:
    if not installed_languages():
        pytest.skip("tesseract-ocr is not installed")
    sign = photos.sign_image(
        ["PHARMACY OPEN DAILY", "Closed on Sunday from noon", "Exit by the blue door"], 40
    )
    tg.send_photo(PRIVATE, photos.encode(sign.crop((0, 0, sign.width - 150, sign.height)), "PNG"))
    await reply_to(tg, PRIVATE)
    tg.send_command(PRIVATE, "/read")
    answer = (await reply_to(tg, PRIVATE, timeout=60))["text"]
    assert answer.startswith("The text reads:") and "PHARMACY" in answer
    assert answer.endswith("\nSome text may be cut off at the right edge. Move the camera back a little.")

    tg.send_photo(PRIVATE, photos.encode(sign, "PNG"))  # the whole sign: read, and no hint
    await reply_to(tg, PRIVATE)
    tg.send_command(PRIVATE, "/read")
    answer = (await reply_to(tg, PRIVATE, timeout=60))["text"]
    assert "PHARMACY" in answer and "cut off" not in answer
