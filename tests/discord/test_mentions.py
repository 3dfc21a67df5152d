"""With `discord.message_content` on: answering messages that mention the bot, DMs, and replies."""

from __future__ import annotations

import hashlib

from bot.core import texts
from bot.discord import help as discord_help
from tests.discord.driver import Driver, settle
from tests.fakes import photos
from tests.fakes.engine import RecordingEngine

MESSAGE_CONTENT_INTENT = 1 << 15


async def test_a_mention_with_a_photo_and_a_question_is_answered_and_a_reply_continues_it(
    driver: Driver, start_adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    adapter = await start_adapter(message_content=True)
    assert fake.identify["intents"] & MESSAGE_CONTENT_INTENT
    me = fake.bot_user
    engine.script("a red car", "no")
    photo = driver.photo(seed=5)
    asked = fake.message(
        fake.channel_id, f"<@{me['id']}> what colour is the car?", attachments=[photo], mentions=[me]
    )
    await fake.dispatch("MESSAGE_CREATE", asked)

    answer = await fake.wait_for("POST", rf"/channels/{fake.channel_id}/messages")
    assert answer.json["content"] == "A red car."
    assert str(answer.json["message_reference"]["message_id"]) == asked["id"]
    assert answer.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert engine.prompts == ["Question: what colour is the car? Answer:"]
    assert engine.requests[0].image_key == hashlib.sha256(photos.jpeg(5)).hexdigest()
    await settle(adapter)

    # A plain reply to the answer (no mention) asks about the same photo, with the history.
    bot_answer = driver.sent_message("A red car.")
    follow_up = fake.message(fake.channel_id, "is it parked?", referenced_message=bot_answer)
    await fake.dispatch("MESSAGE_CREATE", follow_up)
    second = await fake.wait_for("POST", rf"/channels/{fake.channel_id}/messages")
    assert second.json["content"] == "No."
    assert (
        engine.prompts[1]
        == "Question: what colour is the car? Answer: A red car. Question: is it parked? Answer:"
    )


async def test_messages_not_addressed_to_the_bot_are_ignored(
    driver: Driver, start_adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    adapter = await start_adapter(message_content=True)
    await fake.dispatch(
        "MESSAGE_CREATE", fake.message(fake.channel_id, "nice weather", attachments=[driver.photo()])
    )
    from_a_bot = fake.message(
        fake.channel_id,
        f"<@{fake.bot_user['id']}> hi",
        fake.user("other", bot=True),
        mentions=[fake.bot_user],
    )
    await fake.dispatch("MESSAGE_CREATE", from_a_bot)
    await fake.dispatch("MESSAGE_CREATE", fake.message(fake.channel_id, "done"))
    await settle(adapter)
    assert not [c for c in fake.calls if c.method == "POST" and c.path.endswith("/messages")]
    assert engine.requests == []


async def test_a_direct_message_with_a_photo_is_described(
    driver: Driver, start_adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    await start_adapter(message_content=True)
    dm = fake.dm_channel(fake.default_user)
    await fake.dispatch("MESSAGE_CREATE", fake.message(dm["id"], "", attachments=[driver.photo()]))
    answer = await fake.wait_for("POST", rf"/channels/{dm['id']}/messages")
    assert answer.json["content"]
    assert engine.prompts == [""]


async def test_a_mention_without_a_photo_before_any_photo_asks_for_one(
    driver: Driver, start_adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    await start_adapter(message_content=True)
    me = fake.bot_user
    await fake.dispatch(
        "MESSAGE_CREATE", fake.message(fake.channel_id, f"<@{me['id']}> what is it?", mentions=[me])
    )
    answer = await fake.wait_for("POST", rf"/channels/{fake.channel_id}/messages")
    assert answer.json["content"] == texts.NEED_PHOTO
    assert engine.requests == []


async def test_mentions_are_not_read_when_message_content_is_off(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    fake = driver.fake
    me = fake.bot_user
    sent = await fake.dispatch(
        "MESSAGE_CREATE",
        fake.message(fake.channel_id, f"<@{me['id']}> hi", attachments=[driver.photo()], mentions=[me]),
    )
    assert sent is None  # without the messages intents Discord does not even send it
    _, callback = await driver.command("help")
    assert discord_help.HELP_MENTIONS not in callback.json["data"]["content"]
