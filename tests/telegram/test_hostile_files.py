"""The hostile-file corpus sent to the Telegram bot, as photos and as image documents.

Each file goes to a private chat of its own and gets one reply there: the plain refusal, or a
description. The bot keeps answering afterwards. The model is the scripted fake here (the tiny
BLIP-2 takes a quarter of a second a photo, and 60 of them add up); the Discord variant of this
test puts every accepted file through the real model's preprocessing.
"""

from __future__ import annotations

import hashlib

import pytest

from bot.core import texts
from tests.fakes import photos
from tests.fakes.bad_images import DAMAGED, EMPTY, NOT_A_PICTURE, TOO_BIG, UNSUPPORTED, HostileFile, corpus
from tests.fakes.engine import FakeEngine
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import StartBot, image_keys, reply_to

LIMITS = {"max_image_bytes": 5 * 1024 * 1024, "max_image_pixels": 10_000_000, "photos_per_minute": 1000}
REFUSALS = (EMPTY, DAMAGED, NOT_A_PICTURE, UNSUPPORTED, TOO_BIG)
FAILURES = (texts.FAILED, texts.UNAVAILABLE, texts.TIMEOUT, texts.BUSY, texts.STOPPING)
FIRST_CHAT = 70_000


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


def misfit(hostile: HostileFile, text: str) -> str | None:
    """Why the bot's reply to `hostile` is wrong, or None when it is right."""
    if "Traceback" in text or "Error" in text:
        return f"a traceback or exception name in {text!r}"
    if hostile.accepted and (text in FAILURES or any(words in text for words in REFUSALS)):
        return f"refused: {text!r}"
    if not hostile.accepted and (hostile.refusal not in text or not text.endswith(".")):
        return f"not refused with {hostile.refusal!r}: {text!r}"
    return None


async def test_every_hostile_photo_and_document_gets_one_plain_reply(
    tg: FakeTelegram, start_bot: StartBot, engine: FakeEngine
) -> None:
    await start_bot(limits=LIMITS, accessibility={"detail": "brief"})
    wrong: dict[str, str] = {}
    for n, hostile in enumerate(corpus()):  # one at a time: nobody is ahead in line, so no notices
        photo_chat, document_chat = FIRST_CHAT + 2 * n, FIRST_CHAT + 2 * n + 1
        tg.send_photo(photo_chat, hostile.data)
        photo = (await reply_to(tg, photo_chat))["text"]
        tg.send_document(document_chat, hostile.data, mime_type="image/jpeg", file_name="photo.jpg")
        document = (await reply_to(tg, document_chat))["text"]
        for way, text in (("photo", photo), ("document", document)):
            if problem := misfit(hostile, text):
                wrong[f"{hostile.name} ({way})"] = problem
    assert wrong == {}
    described = {hashlib.sha256(h.data).hexdigest() for h in corpus() if h.accepted}
    assert set(image_keys(engine)) == described, "only the described files reached the model"
    # Still answering.
    tg.send_photo(FIRST_CHAT - 1, photos.jpeg(seed=11))
    assert (await reply_to(tg, FIRST_CHAT - 1))["text"].strip()
