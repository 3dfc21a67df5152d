"""/scan, /light, /colour and the /codes and /lighthints switches, through the real discord.py client
against the fake Discord: answered like /read, about the last picture or an attached one."""

from __future__ import annotations

from PIL import Image

from bot.core import texts
from bot.core.service import ChatService
from bot.discord.commands import chat_ref
from tests.discord.driver import Driver, is_ephemeral, settle
from tests.fakes import photos
from tests.fakes.codes import MENU_CODE_SENTENCE, dark_photo, menu_photo
from tests.fakes.engine import RecordingEngine


def attach(driver: Driver, data: bytes, name: str = "photo.jpg") -> dict:
    return driver.fake.add_attachment(data, name, "image/jpeg", width=800, height=600)


async def public_answer(driver: Driver, name: str, options: dict | None = None) -> str:
    """A check's answer: "thinking" first, then a public follow-up, like /read."""
    payload, callback = await driver.command(name, options)
    assert callback.json["type"] == 5
    answer = await driver.followup(payload)
    assert not answer.json.get("flags")
    return answer.json["content"]


async def test_scan_says_the_code_of_the_last_picture(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    describe, _ = await driver.command("describe", {"image": attach(driver, menu_photo(), "menu.jpg")})
    assert (await driver.followup(describe)).json["content"].startswith(MENU_CODE_SENTENCE)
    assert await public_answer(driver, "scan") == MENU_CODE_SENTENCE
    assert len(engine.requests) == 1  # the description only


async def test_a_check_with_an_image_makes_it_current_without_the_model(
    driver: Driver, adapter, engine: RecordingEngine, service: ChatService
) -> None:
    answer = await public_answer(driver, "scan", {"image": attach(driver, menu_photo(), "menu.jpg")})
    assert answer == MENU_CODE_SENTENCE
    assert engine.requests == []
    await settle(adapter)
    alice = chat_ref(driver.fake.channel_id, int(driver.fake.default_user["id"]))
    assert await service.has_photo_for(alice, driver.sent_message(answer)["id"])

    light = await public_answer(driver, "light", {"image": attach(driver, dark_photo(), "dark.jpg")})
    assert light.startswith(texts.IT_IS_DARK)
    red = photos.encode(Image.new("RGB", (400, 300), (200, 20, 30)), "JPEG", quality=95)
    assert await public_answer(driver, "colour", {"image": attach(driver, red, "red.jpg")}) == "Red."
    assert await public_answer(driver, "scan") == texts.NO_CODES  # the red picture is current now
    assert engine.requests == []


async def test_each_check_before_any_picture_asks_for_one_privately(driver: Driver, adapter) -> None:
    for name in ("scan", "light", "colour"):
        payload, _ = await driver.command(name)
        assert await driver.private_followup(payload) == texts.NEED_PHOTO


async def test_a_check_refuses_a_file_that_is_not_a_picture_before_deferring(driver: Driver, adapter) -> None:
    document = driver.fake.add_attachment(b"%PDF-1.7", "menu.pdf", "application/pdf")
    _, callback = await driver.command("scan", {"image": document})
    assert callback.json["type"] == 4 and is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.NOT_AN_IMAGE
    assert driver.cdn_downloads() == []


async def test_codes_and_light_hints_off_leave_them_out_of_descriptions(driver: Driver, adapter) -> None:
    for name, preference in (("codes", "codes"), ("lighthints", "light_hints"), ("colourcheck", "colours")):
        _, callback = await driver.command(name, {"mode": "off"})
        assert callback.json["type"] == 4 and is_ephemeral(callback)
        assert callback.json["data"]["content"] == texts.setting_changed(preference, False)
    _, settings = await driver.command("settings")
    summary = settings.json["data"]["content"]
    assert "QR codes and barcodes: off." in summary and "Light hints: off." in summary
    assert "Colour check: off." in summary

    describe, _ = await driver.command("describe", {"image": attach(driver, menu_photo(), "menu.jpg")})
    description = (await driver.followup(describe)).json["content"]
    assert description.strip() and MENU_CODE_SENTENCE not in description
    assert await public_answer(driver, "scan") == MENU_CODE_SENTENCE  # asked for, it is still found
    describe, _ = await driver.command("describe", {"image": attach(driver, dark_photo(), "dark.jpg")})
    assert texts.VERY_DARK_HINT not in (await driver.followup(describe)).json["content"]
