"""Framing hints: word boxes made here, and Tesseract's own output on pages rendered with a real font."""

import shutil

import pytesseract
import pytest

from bot.core.framing import edge_hint, framing_hints, orientation_hint
from inference.ocr import OcrResult, installed_languages, read_text
from tests.fakes.photos import sign_image

PAGE = [
    "The library opens at nine in the morning",
    "and closes at six in the evening on weekdays.",
    "On Saturdays it opens at ten and closes at four.",
    "Please return your books to the desk by the door.",
    "Ask the staff if you need help finding a book.",
    "Quiet study rooms can be booked in advance.",
    "Printing and copying cost ten pence a page.",
    "Lost property is kept at the front desk.",
]


def has_osd() -> bool:
    try:
        return shutil.which("tesseract") is not None and "osd" in pytesseract.get_languages(config="")
    except (pytesseract.TesseractError, OSError):
        return False


needs_tesseract = pytest.mark.skipif(not installed_languages(), reason="tesseract-ocr is not installed")
needs_osd = pytest.mark.skipif(not has_osd(), reason="tesseract's orientation data (osd) is not installed")


def data(*words: tuple[str, float, int, int, int, int]) -> dict[str, list]:
    """`image_to_data` output of words (text, confidence, left, top, width, height), with the
    page, block and line rows Tesseract puts between them."""
    rows = {"level": [], "text": [], "conf": [], "left": [], "top": [], "width": [], "height": []}
    for level in (1, 2, 3, 4):
        for key, value in zip(rows, (level, "", -1, 0, 0, 1000, 800), strict=True):
            rows[key].append(value)
    for word in words:
        for key, value in zip(rows, (5, *word), strict=True):
            rows[key].append(value)
    return rows


READ = ("Library", 95.0, 300, 300, 120, 30)


def test_a_word_at_the_right_edge_gets_the_hint():
    words = data(READ, ("opening", 41.0, 880, 340, 118, 30))
    assert (
        edge_hint(words, 1000, 800)
        == "Some text may be cut off at the right edge. Move the camera back a little."
    )


def test_words_at_several_edges_name_each_clockwise_from_the_top():
    words = data(READ, ("Sund", 70.0, 0, 400, 80, 30), ("Hours", 90.0, 400, 3, 90, 30))
    assert edge_hint(words, 1000, 800) == (
        "Some text may be cut off at the top and left edges. Move the camera back a little."
    )


def test_a_well_framed_page_gets_no_hint():
    assert edge_hint(data(READ, ("hours", 93.0, 600, 500, 100, 30)), 1000, 800) is None
    assert edge_hint(data(), 1000, 800) is None


def test_marks_and_guesses_at_an_edge_are_not_text():
    marks = data(
        READ, ("|", 90.0, 0, 100, 4, 600), ("—", 80.0, 500, 790, 40, 8), ("ii", 5.0, 990, 10, 10, 20)
    )
    assert edge_hint(marks, 1000, 800) is None
    texture_only = data(("WwW", 35.0, 0, 10, 50, 20), ("lil", 30.0, 960, 700, 40, 20))
    assert edge_hint(texture_only, 1000, 800) is None, "no word on the page was read surely"


@pytest.mark.parametrize(
    ("degrees", "edge"),
    [(0, "top"), (90, "left"), (180, "bottom"), (270, "right")],
)
def test_edges_are_named_as_the_photo_was_held_when_tesseract_read_it_turned(degrees, edge):
    words = data(READ, ("Menu", 88.0, 450, 2, 100, 30))  # the top of the image Tesseract read
    assert edge_hint(words, 1000, 800, rotated_degrees=degrees) == (
        f"Some text may be cut off at the {edge} edge. Move the camera back a little."
    )


def test_numbers_as_strings_from_older_pytesseract_are_read():
    words = data(("Library", "95.5", "300", "300", "120", "30"), ("opening", "41", "880", "340", "118", "30"))
    assert edge_hint(words, 1000, 800) is not None


@needs_tesseract
def test_tesseract_boxes_of_a_sign_cut_at_the_right_show_the_cut():
    sign = sign_image(["PHARMACY OPEN DAILY", "Closed on Sunday from noon", "Exit by the blue door"], 40)
    cut = sign.crop((0, 0, sign.width - 150, sign.height))  # through "noon"
    words = pytesseract.image_to_data(cut, output_type=pytesseract.Output.DICT)
    assert edge_hint(words, *cut.size) == (
        "Some text may be cut off at the right edge. Move the camera back a little."
    )
    whole = pytesseract.image_to_data(sign, output_type=pytesseract.Output.DICT)
    assert edge_hint(whole, *sign.size) is None


@pytest.mark.parametrize(
    ("osd", "said"),
    [
        ({"rotate": 180, "orientation": 180, "orientation_conf": 11.85}, "The page seems to be upside down."),
        (
            {"rotate": 90, "orientation": 270, "orientation_conf": 12.07},
            "The page seems to be turned sideways.",
        ),
        (
            {"rotate": 270, "orientation": 90, "orientation_conf": 10.89},
            "The page seems to be turned sideways.",
        ),
        ({"rotate": 0, "orientation": 0, "orientation_conf": 13.09}, None),
        ({"rotate": 180, "orientation": 180, "orientation_conf": 0.21}, None),  # too little text to be sure
        ({}, None),
        (
            "Page number: 0\nOrientation in degrees: 180\nRotate: 180\nOrientation confidence: 5.67\n"
            "Script: Latin\nScript confidence: 1.11\n",
            "The page seems to be upside down.",
        ),
        ("Page number: 0\nOrientation in degrees: 90\nRotate: 270\nOrientation confidence: 0.15\n", None),
    ],
)
def test_orientation_comes_from_tesseracts_detection(osd, said):
    assert orientation_hint(osd) == said


@needs_osd
@pytest.mark.parametrize(
    ("turn", "said"),
    [
        (0, None),
        (180, "The page seems to be upside down."),
        (90, "The page seems to be turned sideways."),
        (270, "The page seems to be turned sideways."),
    ],
)
def test_tesseract_sees_a_rendered_page_turned(turn, said):
    page = sign_image(PAGE, 32).rotate(turn, expand=True, fillcolor="white")
    assert orientation_hint(pytesseract.image_to_osd(page, output_type=pytesseract.Output.DICT)) == said
    assert orientation_hint(pytesseract.image_to_osd(page)) == said


@needs_tesseract
def test_read_text_keeps_what_the_framing_hints_need_and_they_find_the_cut():
    """`read_text` hands back the word boxes it read, measured on the image it read (upscaled,
    turned), so the hint needs no second reading."""
    sign = sign_image(["PHARMACY OPEN DAILY", "Closed on Sunday from noon", "Exit by the blue door"], 40)
    cut = read_text(sign.crop((0, 0, sign.width - 150, sign.height)))
    assert "PHARMACY" in cut.text and cut.read_size is not None and cut.words is not None
    assert framing_hints(cut) == [
        "Some text may be cut off at the right edge. Move the camera back a little."
    ]
    assert framing_hints(read_text(sign)) == []


@needs_osd
def test_read_text_reads_an_upside_down_page_and_says_it_was_upside_down():
    page = read_text(sign_image(PAGE, 32).rotate(180, expand=True, fillcolor="white"))
    assert page.rotated_degrees == 180 and "library opens at nine" in page.text
    assert framing_hints(page) == ["The page seems to be upside down."]


def test_nothing_read_gives_no_framing_hint():
    result = OcrResult(
        "",
        None,
        words=data(READ),
        read_size=(1000, 800),
        orientation={"rotate": 180, "orientation_conf": 9.0},
    )
    assert framing_hints(result) == []
