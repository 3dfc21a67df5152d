"""Reading incoming messages (bot/telegram_messages.py) and gathering albums (bot/telegram_album.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Message

from bot.core.types import ChatRef
from bot.telegram.album import AlbumCollector
from bot.telegram.messages import (
    chat_ref,
    image_file,
    is_command,
    mentions_bot,
    message_chat_ref,
    question_text,
)
from tests.fakes import telegram_objects as tgo

BOT_ID = 123456
USERNAME = "blipbot_test_bot"


def message(
    content: dict[str, Any], *, chat_id: int = -100, chat_type: str = "supergroup", msg_id: int = 1
) -> Message:
    sender = tgo.user(7)
    data = {"message_id": msg_id, "date": 0, "chat": tgo.chat(chat_id, chat_type, sender), "from": sender}
    return Message.de_json({**data, **content}, None)


def text(value: str, **kwargs: Any) -> Message:
    return message({"text": value, "entities": tgo.detect_entities(value)}, **kwargs)


def document(mime_type: str | None, file_name: str) -> Message:
    doc: dict[str, Any] = {"file_id": "f", "file_unique_id": "u", "file_name": file_name}
    if mime_type is not None:
        doc["mime_type"] = mime_type
    return message({"document": doc})


def test_the_chat_scopes_history_and_the_sender_rate_limits() -> None:
    assert message_chat_ref(text("hi")) == ChatRef("telegram", "-100", "7")
    group = text("hi").chat
    assert chat_ref(group, None) == ChatRef("telegram", "-100", "-100")


def test_the_largest_photo_size_is_looked_at() -> None:
    sizes = [
        {"file_id": name, "file_unique_id": name, "width": w, "height": w}
        for name, w in (("s", 90), ("l", 1280))
    ]
    found = image_file(message({"photo": sizes}))
    assert found is not None and found.file_id == "l"


def test_documents_count_as_images_by_mime_type_or_else_by_name() -> None:
    assert image_file(document("image/jpeg", "a.bin")) is not None
    assert image_file(document("image/webp", "a.webp")) is not None
    assert image_file(document("image/gif", "a.gif")) is None
    assert image_file(document("application/pdf", "a.jpg")) is None
    assert image_file(document(None, "SCAN.PNG")) is not None
    assert image_file(document(None, "notes.txt")) is None
    assert image_file(text("no file")) is None


def test_mentions_and_questions() -> None:
    asked = text(f"@{USERNAME} what is on the left?")
    assert mentions_bot(asked, USERNAME, BOT_ID)
    assert question_text(asked, USERNAME) == "what is on the left?"
    assert question_text(text(f"is it @{USERNAME.upper()} or not"), USERNAME) == "is it or not"
    assert not mentions_bot(text("@someone_else what is it?"), USERNAME, BOT_ID)
    assert not mentions_bot(text(f"email me at x@{USERNAME}"), USERNAME, BOT_ID)
    by_name = message({"text": "Blip, what?", "entities": [{"type": "text_mention", "offset": 0, "length": 4,
                       "user": tgo.bot_user(BOT_ID, USERNAME)}]})  # fmt: skip
    assert mentions_bot(by_name, USERNAME, BOT_ID)
    captioned = message({"caption": f"@{USERNAME}", "caption_entities": tgo.detect_entities(f"@{USERNAME}")})
    assert mentions_bot(captioned, USERNAME, BOT_ID) and question_text(captioned, USERNAME) == ""


def test_commands_are_recognised_by_their_entity() -> None:
    assert is_command(text(f"/help@{USERNAME}"))
    assert not is_command(text("what is this?"))


async def test_an_album_is_handed_whole_and_in_order_to_its_first_handler() -> None:
    albums = AlbumCollector(wait_s=0.05)
    parts = [message({"media_group_id": "g", "photo": []}, msg_id=n) for n in (3, 1, 2)]
    first = asyncio.create_task(albums.collect(parts[0]))
    await asyncio.sleep(0.02)
    assert await albums.collect(parts[1]) is None
    assert await albums.collect(parts[2]) is None
    collected = await first
    assert collected is not None and [m.message_id for m in collected] == [1, 2, 3]
    late = await albums.collect(parts[0])  # after the wait: an album of its own
    assert late is not None and len(late) == 1
