"""The "Describe image" message menu: anyone's message, every picture it holds, attachments or embeds."""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from bot.core import texts
from bot.discord.commands import DESCRIBE_MENU
from storage import Store
from tests.discord.driver import Driver, is_ephemeral, settle
from tests.fakes import photos
from tests.fakes.engine import RecordingEngine


async def chats(store: Store) -> list[str]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(text("SELECT external_id FROM chats"))).scalars())


async def test_the_menu_describes_each_picture_of_another_users_message(
    driver: Driver, adapter, engine: RecordingEngine, store: Store
) -> None:
    fake = driver.fake
    bob = fake.user("bob")
    pictures = [driver.photo(seed=1, name="a.jpg"), driver.photo(seed=2, name="b.jpg")]
    shopping_list = fake.add_attachment(b"milk, eggs", "list.txt", "text/plain")
    target = fake.message(fake.channel_id, "my holiday", bob, attachments=[*pictures, shopping_list])
    payload = fake.context_menu(DESCRIBE_MENU, target)
    callback = await driver.invoke(payload)
    assert callback.json["type"] == 5

    engine.script("a beach", "a mountain")
    first, second = [(await driver.followup(payload)).json for _ in range(2)]
    assert first["content"] == "Image 1 of 2: A beach."
    assert second["content"] == "Image 2 of 2: A mountain."
    assert [r.image_key for r in engine.requests] == [
        hashlib.sha256(photos.jpeg(1)).hexdigest(),
        hashlib.sha256(photos.jpeg(2)).hexdigest(),
    ]
    await settle(adapter)
    # The photos join the conversation of the person who asked, not bob's.
    assert await chats(store) == [f"{fake.channel_id}:{fake.default_user['id']}"]
    assert not any(c.path.endswith("list.txt") for c in driver.cdn_downloads())


async def test_the_menu_describes_an_image_embed_from_discords_media_proxy(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    proxied = fake.add_attachment(photos.png(3), "preview.png", "image/png")
    embed = {
        "type": "image",
        "url": "http://example.invalid/cat.png",
        "thumbnail": {
            "url": "http://example.invalid/cat.png",
            "proxy_url": proxied["url"],
            "width": 64,
            "height": 48,
        },
    }
    target = fake.message(fake.channel_id, "http://example.invalid/cat.png", fake.user("bob"))
    target["embeds"] = [embed]
    payload = fake.context_menu(DESCRIBE_MENU, target)
    await driver.invoke(payload)
    followup = await driver.followup(payload)
    assert not followup.json["content"].startswith("Image 1")  # one picture: no numbering
    [request] = engine.requests
    assert request.image_key == hashlib.sha256(photos.png(3)).hexdigest()


async def test_the_menu_on_a_message_without_pictures_answers_privately_at_once(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    target = fake.message(fake.channel_id, "just words", fake.user("bob"))
    callback = await driver.invoke(fake.context_menu(DESCRIBE_MENU, target))
    assert callback.json["type"] == 4
    assert is_ephemeral(callback)
    assert callback.json["data"]["content"] == texts.NO_IMAGES_IN_MESSAGE
    assert engine.requests == []


async def test_one_damaged_picture_of_two_is_explained_privately_and_the_other_described(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    damaged = fake.add_attachment(photos.truncated_jpeg(), "broken.jpg", "image/jpeg")
    target = fake.message(fake.channel_id, "", fake.user("bob"), attachments=[damaged, driver.photo(seed=4)])
    payload = fake.context_menu(DESCRIBE_MENU, target)
    await driver.invoke(payload)
    private = await driver.private_followup(payload)
    assert private.startswith("Image 1 of 2: That picture seems to be damaged")
    public = await driver.followup(payload)
    assert public.json["content"].startswith("Image 2 of 2: ")
    assert not public.json.get("flags")
    assert len(engine.requests) == 1
