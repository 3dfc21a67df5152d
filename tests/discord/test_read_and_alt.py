"""/read and /alt: the text in a picture by OCR (never the model), and alt text within its length."""

from __future__ import annotations

import hashlib

import pytest

from bot.core import texts
from bot.core.service import ChatService
from bot.discord.commands import chat_ref
from inference.ocr import installed_languages, read_text
from tests.discord.driver import Driver, is_ephemeral, settle
from tests.discord.harness import OCR_TEXT
from tests.fakes import photos
from tests.fakes.engine import RecordingEngine

LONG_CAPTION = "a man in a yellow raincoat walking a small brown dog along a wet cobbled street at night " * 2


async def described(driver: Driver, seed: int = 0) -> None:
    payload, _ = await driver.command("describe", {"image": driver.photo(seed=seed)})
    await driver.followup(payload)


# -- /read ------------------------------------------------------------------------------


async def test_read_reads_the_current_picture_without_the_model(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    await described(driver)
    payload, callback = await driver.command("read")
    assert callback.json["type"] == 5
    answer = await driver.followup(payload)
    assert answer.json["content"] == texts.text_found(OCR_TEXT)
    assert not answer.json.get("flags")  # public, like every answer about a picture
    assert len(engine.requests) == 1  # the description only


@pytest.mark.skipif(not installed_languages(), reason="tesseract-ocr is not installed")
async def test_read_with_an_image_reads_its_words_with_real_ocr_and_makes_it_current(
    driver: Driver, adapter, engine: RecordingEngine, service: ChatService, monkeypatch
) -> None:
    monkeypatch.setattr(service.ctx, "ocr", read_text)
    fake = driver.fake
    picture = fake.add_attachment(photos.sign("NO PARKING"), "sign.png", "image/png", width=900, height=180)
    payload, callback = await driver.command("read", {"image": picture})
    assert callback.json["type"] == 5
    answer = (await driver.followup(payload)).json["content"]
    assert answer.startswith("The text reads:")
    assert "NO PARKING" in answer
    assert engine.requests == []  # reading is OCR's job, not the model's

    await settle(adapter)
    alice = chat_ref(fake.channel_id, int(fake.default_user["id"]))
    assert await service.has_photo_for(alice, driver.sent_message(answer)["id"])
    ask, _ = await driver.command("ask", {"question": "is it a parking sign?"})
    await driver.followup(ask)
    assert engine.requests[0].image_key == hashlib.sha256(photos.sign("NO PARKING")).hexdigest()


async def test_read_before_any_picture_asks_for_one_privately(driver: Driver, adapter) -> None:
    payload, _ = await driver.command("read")
    assert await driver.private_followup(payload) == texts.NEED_PHOTO


async def test_read_refuses_a_file_that_is_not_a_picture_before_deferring(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    document = driver.fake.add_attachment(b"%PDF-1.7", "notice.pdf", "application/pdf")
    _, callback = await driver.command("read", {"image": document})
    assert callback.json["type"] == 4 and is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.NOT_AN_IMAGE
    assert driver.cdn_downloads() == []


# -- /alt -------------------------------------------------------------------------------


async def test_alt_for_the_current_picture_fits_125_characters_and_ends_at_a_word(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    engine.script("a man and a dog", LONG_CAPTION)
    await described(driver)
    payload, callback = await driver.command("alt")
    assert callback.json["type"] == 5
    alt = (await driver.followup(payload)).json
    assert not alt.get("flags")
    assert len(alt["content"]) <= 125
    assert LONG_CAPTION.capitalize().startswith(alt["content"])
    assert LONG_CAPTION[len(alt["content"])] == " "
    assert engine.prompts == ["", ""]  # the caption prompt each time
    assert len(driver.fake.followups(payload["token"])) == 1


async def test_alt_with_an_image_writes_alt_text_for_that_image_in_one_model_pass(
    driver: Driver, adapter, engine: RecordingEngine, service: ChatService
) -> None:
    await described(driver, seed=1)
    engine.script(LONG_CAPTION)
    payload, _ = await driver.command("alt", {"image": driver.photo(seed=2)})
    alt = (await driver.followup(payload)).json["content"]
    assert len(alt) <= 125 and alt.startswith("A man in a yellow raincoat")
    new_picture = hashlib.sha256(photos.jpeg(2)).hexdigest()
    # The picture is kept without a throwaway description: the alt text is its only request.
    assert [(r.image_key, r.prompt) for r in engine.requests[1:]] == [(new_picture, "")]
    assert len(driver.fake.followups(payload["token"])) == 1  # the alt text alone, no caption

    await settle(adapter)  # a reply to the alt text asks about the new picture
    alice = chat_ref(driver.fake.channel_id, int(driver.fake.default_user["id"]))
    assert await service.has_photo_for(alice, driver.sent_message(alt)["id"])


async def test_alt_length_alone_changes_the_length_privately_and_later_alt_text_keeps_to_it(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    _, callback = await driver.command("alt", {"length": 40})
    assert callback.json["type"] == 4 and is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.setting_changed("alt_text_chars", 40)
    assert engine.requests == []

    engine.script(LONG_CAPTION)
    payload, _ = await driver.command("alt", {"image": driver.photo()})
    assert len((await driver.followup(payload)).json["content"]) <= 40
    assert len(engine.requests) == 1


async def test_alt_with_an_image_and_a_length_uses_the_new_length_at_once(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    engine.script(LONG_CAPTION)
    payload, callback = await driver.command("alt", {"image": driver.photo(), "length": 30})
    assert callback.json["type"] == 5
    assert len((await driver.followup(payload)).json["content"]) <= 30
    assert len(engine.requests) == 1


async def test_alt_before_any_picture_asks_for_one_privately(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    payload, _ = await driver.command("alt")
    assert await driver.private_followup(payload) == texts.NEED_PHOTO
    assert engine.requests == []


async def test_alt_with_a_damaged_image_explains_it_privately(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    broken = driver.fake.add_attachment(photos.truncated_jpeg(), "broken.jpg", "image/jpeg")
    payload, _ = await driver.command("alt", {"image": broken})
    assert (await driver.private_followup(payload)).startswith("That picture seems to be damaged")
    assert engine.requests == []


async def test_alt_length_outside_20_to_1000_is_refused_by_discord_and_by_the_core(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    alt = next(c for c in driver.fake.commands[None] if c["name"] == "alt")
    length = next(o for o in alt["options"] if o["name"] == "length")
    assert (length["min_value"], length["max_value"]) == (20, 1000)
    _, callback = await driver.command("alt", {"length": 5})  # a client that ignores the limits
    assert is_ephemeral(callback)
    assert callback.json["data"]["content"] == "Please give a number of characters from 20 to 1000."
    assert engine.requests == []
