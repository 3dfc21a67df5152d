"""blipbot's opt-in extras through the official client: `scan_codes`, `light_hint`, `colours`, `read_text`.

The tiny random model says random words, so each test compares a photo's output with the checks
to the same photo's output without them: the checks' sentences around the model's unchanged words.
"""

from __future__ import annotations

import base64

import pytest
from PIL import Image

from bot.core import texts
from inference.ocr import installed_languages
from tests.api.conftest import RunningApi, running_api
from tests.fakes import codes
from tests.fakes.photos import encode, sign


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def _png(image: Image.Image) -> str:
    return _data_uri(encode(image, "PNG"), "image/png")


async def _run(api: RunningApi, image: str, **inputs: object) -> str:
    output = await api.call(api.client().run, "blipbot/blip-2", input={"image": image, **inputs})
    assert isinstance(output, str)
    return output


async def test_scan_codes_says_the_qr_code_before_the_output_and_only_when_asked(tmp_path, tiny_engine):
    menu = _data_uri(codes.menu_photo(), "image/jpeg")
    async with running_api(tmp_path, tiny_engine) as api:
        plain = await _run(api, menu)
        scanned = await _run(api, menu, scan_codes=True)
    assert "example.org/menu" not in plain
    assert scanned.startswith(codes.MENU_CODE_SENTENCE)  # "There is a QR code. It links to ..."
    assert scanned.removeprefix(codes.MENU_CODE_SENTENCE).strip() == plain.strip()


async def test_colours_adds_the_main_colour_after_the_output(tmp_path, tiny_engine):
    navy = _png(Image.new("RGB", (400, 300), (20, 30, 90)))
    async with running_api(tmp_path, tiny_engine) as api:
        plain = await _run(api, navy, caption=True)
        coloured = await _run(api, navy, caption=True, colours=True)
    assert coloured.startswith(plain)
    added = coloured.removeprefix(plain).lower()
    assert "navy" in added or "dark blue" in added
    # The raw caption has no full stop: one is put between it and the colours, for a screen reader.
    assert added.startswith(" " if plain.rstrip().endswith((".", "!", "?", ":")) else ". ")


async def test_light_hint_says_a_very_dark_photo_is_dark_before_the_output(tmp_path, tiny_engine):
    dark = _png(Image.new("RGB", (640, 480), (5, 5, 5)))
    async with running_api(tmp_path, tiny_engine) as api:
        plain = await _run(api, dark)
        hinted = await _run(api, dark, light_hint=True)
    assert texts.VERY_DARK_HINT not in plain
    assert hinted.startswith(texts.VERY_DARK_HINT)
    assert hinted.removeprefix(texts.VERY_DARK_HINT).strip() == plain.strip()


async def test_the_checks_are_listed_in_the_versions_inputs_off_by_default(api):
    model = await api.call(api.client().models.get, "blipbot/blip-2")
    inputs = model.latest_version.openapi_schema["components"]["schemas"]["Input"]["properties"]
    for name in ("scan_codes", "light_hint", "colours"):
        assert inputs[name]["type"] == "boolean" and inputs[name]["default"] is False
        assert inputs[name]["description"].startswith("blipbot: ")


async def test_read_text_adds_what_ocr_read_after_the_output(tmp_path, tiny_engine):
    if not installed_languages():
        pytest.skip("tesseract-ocr is not installed")
    notice = _data_uri(sign("NO PARKING", "Tow away zone"), "image/png")
    async with running_api(tmp_path, tiny_engine) as api:
        plain = await _run(api, notice, caption=True)
        read = await _run(api, notice, caption=True, read_text=True)
    assert read.startswith(plain)
    added = read.removeprefix(plain)
    assert added.removeprefix(".").startswith(" The text reads: NO PARKING")
    assert "Tow away zone" in added
