"""What users attach that is not a usable picture: answered privately, never sent to the model."""

from __future__ import annotations

from bot.core import texts
from tests.discord.driver import Driver, is_ephemeral
from tests.fakes import photos
from tests.fakes.engine import RecordingEngine


async def test_a_non_image_attachment_is_refused_privately_before_deferring(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    document = driver.fake.add_attachment(b"%PDF-1.7 not a photo", "report.pdf", "application/pdf")
    _, callback = await driver.command("describe", {"image": document})
    assert callback.json["type"] == 4
    assert is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.NOT_AN_IMAGE
    assert callback.json["data"]["allowed_mentions"] == {"parse": []}
    assert engine.requests == [] and driver.cdn_downloads() == []


async def test_an_attachment_over_the_size_limit_is_refused_without_downloading(
    driver: Driver, start_adapter, engine: RecordingEngine
) -> None:
    await start_adapter(max_attachment_bytes=2 * 1024 * 1024)
    big = driver.fake.add_attachment(photos.jpeg(), "big.jpg", "image/jpeg")
    big["size"] = 3 * 1024 * 1024  # what Discord reports; the fake serves the small file
    _, callback = await driver.command("ask", {"question": "what is it?", "image": big})
    assert callback.json["type"] == 4
    assert is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.attachment_too_large(2 * 1024 * 1024)
    assert engine.requests == [] and driver.cdn_downloads() == []


async def test_a_corrupt_image_is_explained_privately_after_deferring(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    broken = driver.fake.add_attachment(photos.truncated_jpeg(), "broken.jpg", "image/jpeg")
    payload, callback = await driver.command("describe", {"image": broken})
    assert callback.json["type"] == 5
    message = await driver.private_followup(payload)
    assert message.startswith("That picture seems to be damaged")
    assert engine.requests == []


async def test_a_text_file_calling_itself_an_image_is_explained_privately(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    fake_photo = driver.fake.add_attachment(photos.TEXT_FILE_NAMED_JPG, "photo.jpg", "image/jpeg")
    payload, _ = await driver.command("describe", {"image": fake_photo})
    assert (
        await driver.private_followup(payload)
        == "I could not open that file as a picture. Please send a photo."
    )
    assert engine.requests == []


async def test_an_attachment_that_cannot_be_downloaded_is_explained_privately(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    vanished = driver.fake.add_attachment(photos.jpeg(), "gone.jpg", "image/jpeg")
    vanished["url"] = vanished["url"].replace(vanished["id"], "1")  # the CDN answers 404
    payload, _ = await driver.command("describe", {"image": vanished})
    assert await driver.private_followup(payload) == texts.DOWNLOAD_FAILED
