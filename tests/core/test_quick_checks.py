"""Quick checks through the real core: codes and light said before a description, and /scan,
/light and /colour, against a real SQLite store and a scripted engine."""

import pytest
from PIL import Image

from bot.core import checking, texts
from bot.core.types import ChatRef, ReplyKind, Upload
from tests.fakes import photos
from tests.fakes.codes import MENU_CODE_SENTENCE, dark_photo, menu_photo, scene

ALICE = ChatRef("test", "chat-a", "alice")
CODE_SENTENCE = MENU_CODE_SENTENCE
DARK_HINT = "This photo is very dark. Try again with more light."


def normal_photo() -> bytes:
    return photos.encode(scene(800, 600, seed=3), "JPEG", quality=90)


async def test_a_photo_with_a_qr_code_says_the_code_first_then_the_description(brief_service, engine):
    engine.enqueue("a menu on a table")
    reply = await brief_service.describe_photo(ALICE, menu_photo())
    assert reply.kind is ReplyKind.ANSWER
    assert reply.text == f"{CODE_SENTENCE} A menu on a table."
    [exchange] = await brief_service.conversation(ALICE)
    assert exchange.answer == reply.text


async def test_a_very_dark_photo_gets_the_dark_hint_first(brief_service, engine):
    engine.enqueue("a dark room")
    reply = await brief_service.describe_photo(ALICE, dark_photo())
    assert reply.text == f"{DARK_HINT} A dark room."


async def test_a_normal_photo_gets_neither(brief_service, engine):
    engine.enqueue("a table with cups")
    reply = await brief_service.describe_photo(ALICE, normal_photo())
    assert reply.text == "A table with cups."


async def test_with_both_checks_switched_off_neither_is_said(brief_service, engine):
    for name in ("codes", "light_hints"):
        changed = await brief_service.set_preference(ALICE, name, "off")
        assert changed.kind is ReplyKind.INFO
    prefs = await brief_service.preferences(ALICE)
    assert (prefs.codes, prefs.light_hints, prefs.colours) == (False, False, True)
    engine.enqueue("a menu on a table", "a dark room")
    assert (await brief_service.describe_photo(ALICE, menu_photo())).text == "A menu on a table."
    assert (await brief_service.describe_photo(ALICE, dark_photo())).text == "A dark room."


async def test_the_switches_take_only_on_or_off(brief_service):
    reply = await brief_service.set_preference(ALICE, "codes", "sometimes")
    assert reply.kind is ReplyKind.ERROR
    assert (await brief_service.preferences(ALICE)).codes is True


async def test_albums_and_describe_again_get_the_checks_too(brief_service, engine):
    engine.enqueue("a menu on a table", "a dark room")
    replies = await brief_service.describe_photos(
        ALICE, [Upload(menu_photo(), "1"), Upload(dark_photo(), "2")]
    )
    assert [r.text for r in replies] == [f"{CODE_SENTENCE} A menu on a table.", f"{DARK_HINT} A dark room."]
    engine.enqueue("a dark room again")
    again = await brief_service.describe_again(ALICE)
    assert again.text.startswith(f"{DARK_HINT} A dark room again.")


async def test_a_checker_that_fails_does_not_cost_the_description(brief_service, engine, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("scanner crashed")

    monkeypatch.setattr(checking, "scan_codes", broken)
    engine.enqueue("a dark room")
    reply = await brief_service.describe_photo(ALICE, dark_photo())
    assert reply.text == f"{DARK_HINT} A dark room.", "the light hint survives the broken scanner"
    assert "code scan failed" in caplog.text
    monkeypatch.setattr(checking, "assess_light", broken)
    engine.enqueue("a menu on a table")
    assert (await brief_service.describe_photo(ALICE, menu_photo())).text == "A menu on a table."


async def test_scan_answers_only_with_the_codes(brief_service, engine):
    await brief_service.add_photo(ALICE, menu_photo())
    reply = await brief_service.scan(ALICE)
    assert (reply.kind, reply.text) == (ReplyKind.ANSWER, CODE_SENTENCE)
    assert engine.requests == [], "no model work"
    await brief_service.add_photo(ALICE, normal_photo())
    assert (await brief_service.scan(ALICE)).text == texts.NO_CODES


async def test_light_and_colour_answer_about_the_current_photo(brief_service, engine):
    await brief_service.add_photo(ALICE, dark_photo())
    light = await brief_service.light(ALICE)
    assert light.kind is ReplyKind.ANSWER
    assert light.text.startswith("It is dark.")
    red = Image.new("RGB", (400, 300), (200, 20, 30))
    await brief_service.add_photo(ALICE, photos.encode(red, "PNG"))
    colour = await brief_service.colour(ALICE)
    assert colour.kind is ReplyKind.ANSWER
    assert colour.text == "Red."
    assert engine.requests == []


@pytest.mark.parametrize("command", ["scan", "light", "colour"])
async def test_each_check_asks_for_a_photo_first_when_there_is_none(brief_service, command):
    reply = await getattr(brief_service, command)(ALICE)
    assert reply.text == texts.NEED_PHOTO
