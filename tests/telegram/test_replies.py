"""How answers go out: albums in order, the place in line edited into the answer, typing, splits, retries."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core import texts
from bot.core.speech import Speaker
from bot.telegram import replies as telegram_replies
from tests.fakes import photos
from tests.fakes.audio import assert_decodes
from tests.fakes.engine import RecordingEngine
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import (
    OTHER_PRIVATE,
    PRIVATE,
    RunningBot,
    StartBot,
    quoted,
    reply_to,
    wait_until,
)


async def test_an_album_is_described_once_per_photo_in_order_with_its_caption(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    album = [
        tg.send_photo(PRIVATE, photos.jpeg(seed=seed), media_group_id="album-1", caption=caption)
        for seed, caption in ((1, "which room is this?"), (2, None), (3, None))
    ]
    answers = [await reply_to(tg, PRIVATE) for _ in album]
    assert [quoted(a) for a in answers] == [m["message_id"] for m in album]
    assert [a["text"].split(":")[0] for a in answers] == ["Photo 1 of 3", "Photo 2 of 3", "Photo 3 of 3"]
    assert engine.prompts == ["Question: which room is this? Answer:"] * 3
    assert len({request.image_key for request in engine.requests}) == 3
    assert [method for method, _ in tg.calls].count("getFile") == 3


async def test_when_others_are_ahead_the_place_in_line_becomes_the_answer(
    tg: FakeTelegram, start_bot: StartBot, engine: RecordingEngine
) -> None:
    await start_bot(inference={"max_batch_size": 1})
    engine.delay_s = 0.5
    # Questions: one request each (a description may be several, by accessibility.detail).
    tg.send_photo(OTHER_PRIVATE, photos.jpeg(seed=1), caption="what is it?")
    await wait_until(lambda: len(engine.batches) == 1)  # the first photo is on the model now
    photo = tg.send_photo(PRIVATE, photos.jpeg(seed=2), caption="what is it?")
    waiting = await reply_to(tg, PRIVATE)
    assert (
        waiting["text"] == texts.place_in_line(2) == "You are number 2 in line. Your answer is coming soon."
    )
    assert quoted(waiting) == photo["message_id"]
    edit = await tg.wait_for("editMessageText", lambda p: p["chat_id"] == PRIVATE)
    placeholder_id = photo["message_id"] + 1
    assert edit["message_id"] == placeholder_id
    assert tg.message(PRIVATE, placeholder_id)["text"] == edit["text"] != waiting["text"]
    assert len(tg.sent_messages(PRIVATE)) == 1  # edited, not sent again
    tg.send_text(PRIVATE, "what else?", reply_to_message_id=placeholder_id)  # the edited answer is linked
    await reply_to(tg, PRIVATE)
    assert engine.requests[-1].image_key == engine.requests[1].image_key


async def test_typing_is_refreshed_until_the_answer_is_sent(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(telegram_replies, "TYPING_REFRESH_SECONDS", 0.1)
    engine.delay_s = 0.5
    tg.send_photo(PRIVATE, photos.jpeg())
    await reply_to(tg, PRIVATE)
    actions = [params for method, params in tg.calls if method == "sendChatAction"]
    assert len(actions) >= 3
    assert all(action == {"chat_id": PRIVATE, "action": "typing"} for action in actions)
    await asyncio.sleep(0.3)  # and no more once the answer is out
    assert [method for method, _ in tg.calls].count("sendChatAction") == len(actions)


async def test_a_long_answer_is_split_into_messages_that_all_lead_to_the_photo(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    sentence = "There is a long wooden table with many plates on it. "
    engine.script(sentence * 120)  # about 6400 characters
    photo = tg.send_photo(PRIVATE, photos.jpeg(), caption="what is on the table?")
    first, second = await reply_to(tg, PRIVATE), await reply_to(tg, PRIVATE)
    assert len(first["text"]) <= 4096 and len(second["text"]) <= 4096
    assert first["text"].endswith(".") and second["text"].endswith(".")  # cut between sentences
    assert second["text"].startswith(sentence.strip())
    assert quoted(first) == photo["message_id"] and quoted(second) is None
    assert f"{first['text']} {second['text']}".endswith((sentence * 119).strip())  # nothing lost
    tg.send_text(PRIVATE, "how many plates?", reply_to_message_id=photo["message_id"] + 2)
    await reply_to(tg, PRIVATE)
    assert engine.requests[-1].image_key == engine.requests[0].image_key


async def test_a_voice_note_longer_than_a_caption_is_captioned_with_its_first_words(
    tg: FakeTelegram, start_bot: StartBot, engine: RecordingEngine
) -> None:
    if not Speaker.available():
        pytest.skip("espeak-ng or ffmpeg is not installed")
    await start_bot(accessibility={"voice": True, "speech_max_chars_per_note": 2000, "speech_max_notes": 1})
    engine.script("the wall is painted in a warm shade of yellow " * 30)  # about 1400 characters
    tg.send_photo(PRIVATE, photos.jpeg(), caption="what colour is the wall?")
    answer = (await reply_to(tg, PRIVATE))["text"]
    voice = await tg.wait_for("sendVoice", timeout=30)
    caption = voice["caption"]
    assert len(answer) > 1024 >= len(caption) > 1000
    assert answer.startswith(caption) and answer[len(caption)] == " "  # cut between words
    assert "parse_mode" not in voice
    assert_decodes(voice["voice"].data)


async def test_a_failed_send_is_retried(tg: FakeTelegram, bot: RunningBot) -> None:
    tg.fail_next("sendMessage", status=502)
    tg.send_photo(PRIVATE, photos.jpeg())
    failed, retried = await reply_to(tg, PRIVATE), await reply_to(tg, PRIVATE)
    assert failed == retried
    assert tg.sent_messages(PRIVATE) == [retried]


# PTB itself reads the int-valued `retry_after` while building the exception's message.
@pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
async def test_a_dropped_connection_and_a_flood_wait_are_retried(tg: FakeTelegram, bot: RunningBot) -> None:
    tg.fail_next("sendMessage", disconnect=True)
    tg.fail_next("sendMessage", status=429, retry_after=1)
    started = time.monotonic()
    tg.send_command(PRIVATE, "/help")
    await tg.wait_for_count("sendMessage", 3)
    assert time.monotonic() - started >= 1  # the flood wait was honoured
    assert [m["text"] for m in tg.sent_messages(PRIVATE)] == [texts.HELP]
