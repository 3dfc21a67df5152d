"""Photos in: which file is fetched, what the model is asked, what comes back (bot/telegram/handlers.py)."""

from __future__ import annotations

from bot.core import texts
from tests.fakes import photos
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import (
    PRIVATE,
    RecordingEngine,
    RunningBot,
    StartBot,
    image_keys,
    quoted,
    reply_to,
)


def get_files(tg: FakeTelegram) -> list[str]:
    return [params["file_id"] for method, params in tg.calls if method == "getFile"]


async def test_a_photo_without_caption_is_described_from_its_largest_size(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    photo = tg.send_photo(PRIVATE, photos.jpeg())
    answer = await reply_to(tg, PRIVATE)
    assert quoted(answer) == photo["message_id"]
    assert answer["reply_parameters"]["allow_sending_without_reply"] is True
    assert "parse_mode" not in answer
    assert answer["text"].strip()
    assert get_files(tg) == [photo["photo"][-1]["file_id"]]
    caption = engine.requests[0]  # then perhaps the detail questions, per accessibility.detail
    assert caption.prompt == ""
    assert caption.options.max_new_tokens == 8  # inference.caption_max_new_tokens
    assert len(image_keys(engine)) == 1


async def test_a_caption_is_the_first_question(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_photo(PRIVATE, photos.jpeg(), caption="what colour is the wall?")
    await reply_to(tg, PRIVATE)
    assert engine.prompts == ["Question: what colour is the wall? Answer:"]


async def test_an_image_sent_as_a_document_is_described(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    document = tg.send_document(
        PRIVATE, photos.png(), mime_type="image/png", file_name="scan.png", caption="is there text?"
    )
    answer = await reply_to(tg, PRIVATE)
    assert quoted(answer) == document["message_id"]
    assert engine.prompts == ["Question: is there text? Answer:"]


async def test_a_document_that_is_not_an_image_gets_send_me_an_image(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_document(PRIVATE, b"%PDF-1.7 ...", mime_type="application/pdf", file_name="report.pdf")
    answer = await reply_to(tg, PRIVATE)
    assert answer["text"] == texts.NOT_AN_IMAGE
    assert get_files(tg) == [] and engine.requests == []


async def test_a_corrupt_photo_gets_a_clear_message_and_the_bot_stays_up(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_photo(PRIVATE, photos.truncated_jpeg())
    complaint = await reply_to(tg, PRIVATE)
    assert "seems to be damaged" in complaint["text"]
    assert engine.requests == []
    tg.send_photo(PRIVATE, photos.jpeg(seed=3))
    await reply_to(tg, PRIVATE)
    assert len(image_keys(engine)) == 1


async def test_an_oversized_file_is_refused_without_downloading(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_photo(PRIVATE, photos.jpeg(), file_size=21 * 1024 * 1024)
    answer = await reply_to(tg, PRIVATE)
    assert answer["text"] == texts.attachment_too_large(20 * 1024 * 1024)
    assert get_files(tg) == [] and engine.requests == []


async def test_the_bot_api_file_is_too_big_error_gets_the_same_message(
    tg: FakeTelegram, start_bot: StartBot, engine: RecordingEngine
) -> None:
    # A self-hosted limit above the cloud API's: the update's size passes, getFile refuses.
    await start_bot(telegram={"max_download_bytes": 40 * 1024 * 1024})
    tg.send_document(PRIVATE, photos.png(), mime_type="image/png", file_size=25 * 1024 * 1024)
    answer = await reply_to(tg, PRIVATE)
    assert answer["text"] == texts.attachment_too_large(40 * 1024 * 1024)
    assert engine.requests == []


async def test_photos_over_the_rate_limit_are_refused(
    tg: FakeTelegram, start_bot: StartBot, engine: RecordingEngine
) -> None:
    await start_bot(limits={"photos_per_minute": 2})
    for seed in range(3):
        tg.send_photo(PRIVATE, photos.jpeg(seed=seed))
        await reply_to(tg, PRIVATE)
    assert tg.sent_messages(PRIVATE)[-1]["text"].startswith("You have sent a lot of photos")
    assert len(image_keys(engine)) == 2


async def test_typing_is_shown_while_the_model_works(tg: FakeTelegram, bot: RunningBot) -> None:
    tg.send_photo(PRIVATE, photos.jpeg())
    action = await tg.wait_for("sendChatAction")
    assert action == {"chat_id": PRIVATE, "action": "typing"}
    await reply_to(tg, PRIVATE)
