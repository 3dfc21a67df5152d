"""/describe and /ask: deferral, follow-ups, the prompts with their history, and linking answers."""

from __future__ import annotations

import hashlib

from bot.core.service import ChatService
from bot.core.texts import NEED_PHOTO
from bot.core.types import VoiceNote
from bot.discord.commands import chat_ref
from inference.prompts import detail_prompts
from tests.discord.driver import Driver, settle
from tests.discord.harness import CAPTION_OPTIONS, OCR_TEXT
from tests.fakes import photos
from tests.fakes.engine import RecordingEngine


async def test_describe_defers_then_sends_the_caption_as_a_follow_up(
    driver: Driver, adapter, engine: RecordingEngine, service: ChatService
) -> None:
    fake = driver.fake
    payload, callback = await driver.command("describe", {"image": driver.photo()})
    assert callback.json["type"] == 5  # deferred: "blipbot is thinking..."

    followup = await driver.followup(payload)
    [request] = engine.requests
    assert request.prompt == ""
    assert request.options == CAPTION_OPTIONS
    assert request.image_key == hashlib.sha256(photos.jpeg(0)).hexdigest()
    assert followup.json["content"]
    assert followup.json["allowed_mentions"] == {"parse": []}
    assert not followup.json.get("flags")

    await settle(adapter)
    alice = chat_ref(fake.channel_id, int(fake.default_user["id"]))
    answer = driver.sent_message(followup.json["content"])
    assert await service.has_photo_for(alice, answer["id"])  # a reply to the answer is about the photo


async def test_describe_in_detail_asks_the_detail_questions_and_reads_the_text_in_one_answer(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    payload, callback = await driver.command("describe", {"image": driver.photo(), "detail": True})
    assert callback.json["type"] == 5
    followup = await driver.followup(payload)
    assert engine.prompts == ["", *detail_prompts().values()]
    assert len({r.image_key for r in engine.requests}) == 1
    assert OCR_TEXT in followup.json["content"]  # full detail reads the text out
    assert len(driver.fake.followups(payload["token"])) == 1


async def test_ask_without_image_continues_the_conversation_with_its_history(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    engine.script("a front door", "blue", "yes")
    describe, _ = await driver.command("describe", {"image": driver.photo()})
    await driver.followup(describe)

    first, callback = await driver.command("ask", {"question": "what colour is the door?"})
    assert callback.json["type"] == 5
    assert (await driver.followup(first)).json["content"] == "Blue."
    second, _ = await driver.command("ask", {"question": "is it open?"})
    assert (await driver.followup(second)).json["content"] == "Yes."

    assert engine.prompts == [
        "",
        "Question: what colour is the door? Answer:",
        "Question: what colour is the door? Answer: Blue. Question: is it open? Answer:",
    ]
    assert len({r.image_key for r in engine.requests}) == 1


async def test_ask_with_its_own_image_asks_about_that_image(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    describe, _ = await driver.command("describe", {"image": driver.photo(seed=1)})
    await driver.followup(describe)
    payload, callback = await driver.command(
        "ask", {"question": "is there text on it?", "image": driver.photo(seed=2)}
    )
    assert callback.json["type"] == 5
    await driver.followup(payload)
    assert engine.prompts[-1] == "Question: is there text on it? Answer:"  # a new photo: no history
    assert engine.requests[-1].image_key == hashlib.sha256(photos.jpeg(2)).hexdigest()


async def test_ask_before_any_photo_says_send_a_photo_first_privately(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    payload, callback = await driver.command("ask", {"question": "what is this?"})
    assert callback.json["type"] == 5
    assert await driver.private_followup(payload) == NEED_PHOTO
    assert engine.requests == []


async def test_a_long_answer_is_split_into_messages_of_at_most_2000_characters(
    driver: Driver, adapter, engine: RecordingEngine, service: ChatService
) -> None:
    long_answer = " ".join(f"word{i}" for i in range(700))  # about 5000 characters
    engine.script(long_answer)
    payload, _ = await driver.command("describe", {"image": driver.photo()})
    pieces = [(await driver.followup(payload)).json for _ in range(3)]
    assert all(len(p["content"]) <= 2000 for p in pieces)
    assert all(p["allowed_mentions"] == {"parse": []} for p in pieces)
    assert " ".join(p["content"] for p in pieces) == "Word0" + long_answer[len("word0") :] + "."
    await settle(adapter)
    alice = chat_ref(driver.fake.channel_id, int(driver.fake.default_user["id"]))
    for piece in pieces:
        assert await service.has_photo_for(alice, driver.sent_message(piece["content"])["id"])


async def test_a_direct_message_is_its_own_conversation(
    driver: Driver, adapter, engine: RecordingEngine, service: ChatService
) -> None:
    fake = driver.fake
    payload, callback = await driver.command("describe", {"image": driver.photo()}, guild=False)
    assert "guild_id" not in payload
    assert callback.json["type"] == 5
    followup = await driver.followup(payload)
    await settle(adapter)
    alice = int(fake.default_user["id"])
    dm = chat_ref(int(payload["channel_id"]), alice)
    assert await service.has_photo_for(dm, driver.sent_message(followup.json["content"])["id"])
    in_guild, _ = await driver.command("ask", {"question": "and here?"})
    assert await driver.private_followup(in_guild) == NEED_PHOTO  # the guild channel has no photo


class FakeSpeaker:
    """Speaks instantly: one 'recording' per reply, its bytes naming the words."""

    @staticmethod
    def available() -> bool:
        return True

    async def voice_notes(self, text: str) -> list[VoiceNote]:
        return [VoiceNote(text, b"OggS" + text.encode())]


async def test_spoken_replies_follow_the_text_as_audio_files_with_the_words_as_description(
    driver: Driver, adapter, service: ChatService, monkeypatch
) -> None:
    fake = driver.fake
    monkeypatch.setattr(service.ctx, "speaker", FakeSpeaker())
    await service.store.update_user_settings("discord", fake.default_user["id"], voice=True)
    payload, _ = await driver.command("describe", {"image": driver.photo()})
    text = (await driver.followup(payload)).json
    audio = await driver.followup(payload)
    [file] = audio.files
    assert file.filename == "answer-1.ogg"
    assert file.data == b"OggS" + text["content"].encode()
    assert audio.json["attachments"][0]["description"] == text["content"]
    await settle(adapter)
    alice = chat_ref(fake.channel_id, int(fake.default_user["id"]))
    [voice_message] = [m for m in fake.messages.values() if m["attachments"] and m["author"]["bot"]]
    assert await service.has_photo_for(alice, voice_message["id"])
