"""OCR on pictures rendered here with a real font; Tesseract is a system package (scripts/setup)."""

import pytest
from PIL import Image, ImageDraw

from inference.ocr import OcrUnavailable, installed_languages, join_lines, read_text
from tests.fakes.photos import sign_image

SIGN = ["PHARMACY OPEN DAILY", "Closed on Sunday from noon", "Exit through the blue door"]

pytestmark = pytest.mark.skipif(not installed_languages(), reason="tesseract-ocr is not installed")


def recognised_share(found: str, expected: list[str]) -> float:
    words = " ".join(expected).lower().split()
    seen = set(found.lower().split())
    return sum(word in seen for word in words) / len(words)


def test_the_words_of_a_rendered_sign_are_read_in_order():
    result = read_text(sign_image(SIGN, 40))
    assert recognised_share(result.text, SIGN) >= 0.9
    assert result.text.index("PHARMACY") < result.text.index("Sunday") < result.text.index("door")
    assert result.confidence is not None and result.confidence > 60


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_a_rotated_sign_is_turned_upright_first(degrees):
    result = read_text(sign_image(SIGN, 40).rotate(degrees, expand=True, fillcolor="white"))
    assert recognised_share(result.text, SIGN) >= 0.9


def test_small_text_is_upscaled_and_read():
    result = read_text(sign_image(["Best before 12 March"], 14))
    assert recognised_share(result.text, ["Best before 12 March"]) >= 0.75


def test_a_photo_without_text_finds_none():
    plain = Image.new("RGB", (400, 300), (120, 160, 90))
    ImageDraw.Draw(plain).ellipse((100, 80, 300, 220), fill=(200, 40, 40))
    result = read_text(plain)
    assert not result.found and result.text == ""


def test_a_language_that_is_not_installed_is_refused():
    with pytest.raises(OcrUnavailable, match="not installed"):
        read_text(sign_image(["hello"]), language="xyz")


def test_lines_are_joined_the_way_they_are_read():
    assert join_lines(["The quick brown fox jum-", "ped over the lazy", "dog."]) == (
        "The quick brown fox jumped over the lazy dog."
    )
    assert join_lines(["PHARMACY", "Open daily", "Closed on Sunday,", "Monday too"]) == (
        "PHARMACY\nOpen daily\nClosed on Sunday, Monday too"
    )
