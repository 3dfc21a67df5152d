"""Reading the text in a photo (/read, "what does it say?"): Tesseract OCR, never the model's guess.

OCR runs in a thread beside the model, not through its queue, so a reading never waits behind
descriptions. What was read is kept in the history like any answer.
"""

from __future__ import annotations

import asyncio
import logging
import time

from PIL import Image

from bot.core import texts
from bot.core.context import CoreContext
from bot.core.failures import replies_on_failure
from bot.core.framing import framing_hints
from bot.core.generating import ms_since
from bot.core.options import OCR_MODEL_NAME
from bot.core.photos import ChatPhoto, current_photo
from bot.core.preferences import Preferences
from bot.core.settings import SettingsFlow
from bot.core.speech import with_voice
from bot.core.types import ChatRef, Reply, ReplyKind
from inference.ocr import OcrResult, OcrUnavailable
from storage import TurnKind

log = logging.getLogger(__name__)


class ReadFlow:
    """/read and every question that asks to read the text."""

    def __init__(self, ctx: CoreContext, settings: SettingsFlow) -> None:
        self.ctx = ctx
        self.settings = settings

    @replies_on_failure
    async def read_text(self, chat: ChatRef, *, about_message_id: str | None = None) -> Reply:
        """/read: the text in the current photo, read by OCR (never guessed by the model)."""
        photo = await current_photo(self.ctx, chat, about_message_id)
        if isinstance(photo, Reply):
            return photo
        prefs = await self.settings.preferences(chat)
        return await with_voice(self.ctx.speaker, await self.read(photo, prefs), prefs.voice)

    async def read(self, photo: ChatPhoto, prefs: Preferences) -> Reply:
        """Read `photo` in the person's OCR language and keep what was found in the history."""
        started = time.perf_counter()
        result = await self.ocr(photo.prepared.image, prefs.ocr_language)
        if result is None:
            return Reply(texts.OCR_UNAVAILABLE, ReplyKind.ERROR, image_id=photo.stored.id)
        text = texts.text_found(result.text) if result.found else texts.NO_TEXT_FOUND
        text = "\n".join([text, *framing_hints(result)])
        ocr_ms = ms_since(started)
        await self.ctx.store.add_turn(
            photo.chat_id, photo.stored.id, TurnKind.QUESTION, texts.READ_QUESTION, text,
            OCR_MODEL_NAME, round(ocr_ms),
        )  # fmt: skip
        log.info("read text chat_id=%d ocr_ms=%.0f words=%d", photo.chat_id, ocr_ms, len(result.text.split()))
        return Reply(text, ReplyKind.ANSWER, image_id=photo.stored.id)

    async def ocr(self, image: Image.Image, language: str) -> OcrResult | None:
        """The text found, or None when OCR is not installed or failed (logged, never raised)."""
        try:
            return await asyncio.to_thread(self.ctx.ocr, image, language)
        except OcrUnavailable as error:
            log.warning("OCR unavailable: %s", error)
        except Exception:
            log.exception("OCR failed")
        return None
