"""Questions that route to the quick checks: "what does the code say?" to the code reader and
"what colour is it?" to the colour check, as a follow-up and as a new photo's caption, through
the real core against a real SQLite store and a scripted engine."""

import pytest
from PIL import Image

from bot.core import texts
from bot.core.options import COLOUR_REQUEST, READ_REQUEST, SCAN_REQUEST
from bot.core.types import ReplyKind
from tests.core.test_quick_checks import ALICE
from tests.fakes import photos
from tests.fakes.codes import MENU_CODE_SENTENCE, menu_photo, scene


def red_thing_photo() -> bytes:
    """A big red object filling the middle of a table-top scene: mostly one thing."""
    image = scene(800, 600)
    image.paste(Image.new("RGB", (440, 340), (200, 20, 30)), (180, 130))
    return photos.encode(image, "JPEG", quality=90)


def busy_photo() -> bytes:
    """A table top with several objects of different colours in the middle."""
    return photos.encode(scene(800, 600, seed=1), "JPEG", quality=90)


@pytest.mark.parametrize(
    "question",
    [
        "what does the code say?",
        "What does the QR code say",
        "read the barcode",
        "scan the code",
        "what is the barcode",
        "what's the bar code?",
        "is there a QR code?",
        "Are there any barcodes?",
        "  please read this QR code",
    ],
)
def test_code_questions_are_scan_requests(question):
    assert SCAN_REQUEST.match(question)


@pytest.mark.parametrize(
    "question", ["what does the sign say?", "read this", "what is written here?", "what does it say?"]
)
def test_reading_questions_stay_read_requests(question):
    assert not SCAN_REQUEST.match(question)
    assert READ_REQUEST.match(question)


@pytest.mark.parametrize(
    "question", ["how many codes do I need?", "is this a barcode scanner?", "what colour is the code?"]
)
def test_other_questions_are_no_scan_requests(question):
    assert not SCAN_REQUEST.match(question)


@pytest.mark.parametrize("question", ["what colour is it?", "what color is this?", "What colour is that"])
def test_colour_requests(question):
    assert COLOUR_REQUEST.match(question)


@pytest.mark.parametrize(
    "question",
    [
        "what colour is the door?",
        "what colour is it made of?",
        "is it red?",
        "what is it?",
        "what colours are these",
    ],
)
def test_colour_questions_about_one_thing_among_others_are_model_questions(question):
    assert not COLOUR_REQUEST.match(question)


async def test_a_follow_up_code_question_answers_like_scan_without_the_model(brief_service, engine):
    await brief_service.add_photo(ALICE, menu_photo())
    reply = await brief_service.ask(ALICE, "what does the code say?")
    assert (reply.kind, reply.text) == (ReplyKind.ANSWER, MENU_CODE_SENTENCE)
    assert engine.requests == [], "no model work"
    [exchange] = await brief_service.conversation(ALICE)
    assert (exchange.question, exchange.answer) == (texts.SCAN_QUESTION, MENU_CODE_SENTENCE)


async def test_a_code_question_without_a_code_says_there_is_none(brief_service, engine):
    await brief_service.add_photo(ALICE, busy_photo())
    assert (await brief_service.ask(ALICE, "is there a QR code?")).text == texts.NO_CODES
    assert engine.requests == []


async def test_a_code_question_as_a_caption_answers_like_scan(brief_service, engine):
    reply = await brief_service.describe_photo(ALICE, menu_photo(), question="What does the QR code say?")
    assert (reply.kind, reply.text) == (ReplyKind.ANSWER, MENU_CODE_SENTENCE)
    assert engine.requests == []
    [exchange] = await brief_service.conversation(ALICE)
    assert exchange.answer == MENU_CODE_SENTENCE


async def test_the_codes_preference_does_not_turn_off_an_explicit_question(brief_service, engine):
    await brief_service.set_preference(ALICE, "codes", "off")
    await brief_service.add_photo(ALICE, menu_photo())
    assert (await brief_service.ask(ALICE, "scan the code")).text == MENU_CODE_SENTENCE


async def test_what_colour_is_it_on_one_object_answers_like_colour(brief_service, engine):
    await brief_service.add_photo(ALICE, red_thing_photo())
    expected = (await brief_service.colour(ALICE)).text
    assert expected.startswith("Red")
    reply = await brief_service.ask(ALICE, "what colour is it?")
    assert (reply.kind, reply.text) == (ReplyKind.ANSWER, expected)
    captioned = await brief_service.describe_photo(ALICE, red_thing_photo(), question="What color is this?")
    assert captioned.text == expected
    assert engine.requests == [], "no model work"


async def test_what_colour_is_it_on_a_busy_scene_goes_to_the_model(brief_service, engine):
    await brief_service.add_photo(ALICE, busy_photo())
    engine.enqueue("the cup is pink")
    reply = await brief_service.ask(ALICE, "what colour is it?")
    assert reply.text.startswith("The cup is pink")
    assert len(engine.requests) == 1
    engine.enqueue("a pink cup")
    captioned = await brief_service.describe_photo(ALICE, busy_photo(), question="what colour is that?")
    assert captioned.text.startswith("A pink cup")
    assert len(engine.requests) == 2
