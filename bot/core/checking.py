"""Quick checks that need no model: codes, light and colours, said before or instead of a description.

Every described photo is scanned for QR codes and barcodes and checked for light, in a thread
beside the model (never through its queue), so a menu's link or "this photo is very dark" comes
first without slowing the description. A check that fails is logged and left out: it must never
cost the person the description. /scan, /light and /colour answer with one check alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from PIL import Image

from bot.core import texts
from bot.core.codes import describe_codes, scan_codes
from bot.core.colours import describe_colours, is_mostly_one, main_colours
from bot.core.context import CoreContext
from bot.core.failures import replies_on_failure
from bot.core.generating import ms_since
from bot.core.light import assess_light, describe_light, light_hint
from bot.core.photos import ChatPhoto, current_photo
from bot.core.preferences import Preferences
from bot.core.settings import SettingsFlow
from bot.core.speech import with_voice
from bot.core.types import ChatRef, Reply, ReplyKind
from storage import TurnKind

log = logging.getLogger(__name__)

#: The name recorded in the history for answers these checks gave (no model made them).
CHECKS_MODEL_NAME = "quick-checks"


def start_checks(photo: ChatPhoto, prefs: Preferences) -> asyncio.Task[list[str]] | None:
    """The checks the person wants, started beside the model; None when they want none."""
    if not (prefs.codes or prefs.light_hints):
        return None
    return asyncio.create_task(checks_said(photo, codes=prefs.codes, light=prefs.light_hints))


async def checks_said(photo: ChatPhoto, *, codes: bool, light: bool) -> list[str]:
    """The sentences to say before the description: the codes first, then a light hint.

    Each check runs in its own thread and fails on its own (logged at warning), so a broken
    scanner still leaves the light hint, and neither ever stops the description.
    """
    jobs = []
    if codes:
        jobs.append(_safely("code scan", photo, _codes_sentence, photo.prepared.image))
    if light:
        jobs.append(_safely("light check", photo, _light_sentence, photo.prepared.model_image))
    said = await asyncio.gather(*jobs)
    return [sentence for sentence in said if sentence]


async def _safely(
    what: str, photo: ChatPhoto, check: Callable[[Image.Image], str | None], image: Image.Image
) -> str | None:
    try:
        return await asyncio.to_thread(check, image)
    except Exception as error:
        log.warning("%s failed on image %d (%s)", what, photo.stored.id, type(error).__name__, exc_info=True)
        return None


async def colours_said(photo: ChatPhoto) -> str | None:
    """The main colours of `photo` as a sentence, off the loop; None (logged) if the check fails."""
    return await _safely("colour check", photo, _colour_answer, photo.prepared.model_image)


def _codes_sentence(image: Image.Image) -> str | None:
    return describe_codes(scan_codes(image))


def _light_sentence(image: Image.Image) -> str | None:
    return light_hint(assess_light(image))


def _scan_answer(image: Image.Image) -> str:
    return describe_codes(scan_codes(image, thorough=True)) or texts.NO_CODES


def _light_answer(image: Image.Image) -> str:
    return describe_light(assess_light(image))


def _colour_answer(image: Image.Image) -> str:
    return describe_colours(main_colours(image))


class CheckFlow:
    """/scan, /light and /colour: one quick check on the current photo, answered alone."""

    def __init__(self, ctx: CoreContext, settings: SettingsFlow) -> None:
        self.ctx = ctx
        self.settings = settings

    @replies_on_failure
    async def scan(self, chat: ChatRef, *, about_message_id: str | None = None) -> Reply:
        """/scan: only the codes in the current photo, searched thoroughly."""
        return await self._answer(chat, about_message_id, texts.SCAN_QUESTION, _scan_answer, full_size=True)

    async def scan_photo(self, photo: ChatPhoto) -> Reply:
        """A code question ("what does the code say?") about `photo`: answered like /scan."""
        return await self._check(photo, texts.SCAN_QUESTION, _scan_answer, full_size=True)

    async def colour_of_one_object(self, photo: ChatPhoto) -> Reply | None:
        """The answer to "what colour is it?" like /colour when `photo` is mostly one object, else None.

        When the centre is mostly one colour, as /colour says "Mostly X", the person can take it
        for the thing they pointed at; otherwise the centre is several things (a busy table), "it"
        is ambiguous, and only the model can tell which thing is meant. The colours are found
        once, off the loop, and both decide and make the answer.
        """
        started = time.perf_counter()
        shares = await asyncio.to_thread(main_colours, photo.prepared.model_image)
        if not is_mostly_one(shares):
            return None
        return await self._record(photo, texts.COLOUR_QUESTION, describe_colours(shares), started)

    @replies_on_failure
    async def light(self, chat: ChatRef, *, about_message_id: str | None = None) -> Reply:
        """/light: how bright the current photo is, and whether a light seems to be on."""
        return await self._answer(chat, about_message_id, texts.LIGHT_QUESTION, _light_answer)

    @replies_on_failure
    async def colour(self, chat: ChatRef, *, about_message_id: str | None = None) -> Reply:
        """/colour: the main colours in the middle of the current photo."""
        return await self._answer(chat, about_message_id, texts.COLOUR_QUESTION, _colour_answer)

    async def _answer(
        self,
        chat: ChatRef,
        about_message_id: str | None,
        question: str,
        check: Callable[[Image.Image], str],
        *,
        full_size: bool = False,
    ) -> Reply:
        """Like /read: the current photo (or "send a photo first"), checked off the loop, kept in history."""
        photo = await current_photo(self.ctx, chat, about_message_id)
        if isinstance(photo, Reply):
            return photo
        prefs = await self.settings.preferences(chat)
        reply = await self._check(photo, question, check, full_size=full_size)
        return await with_voice(self.ctx.speaker, reply, prefs.voice)

    async def _check(
        self, photo: ChatPhoto, question: str, check: Callable[[Image.Image], str], *, full_size: bool = False
    ) -> Reply:
        """`check` on `photo` in a thread, its answer kept in the history (unvoiced: callers voice it)."""
        started = time.perf_counter()
        image = photo.prepared.image if full_size else photo.prepared.model_image
        return await self._record(photo, question, await asyncio.to_thread(check, image), started)

    async def _record(self, photo: ChatPhoto, question: str, text: str, started: float) -> Reply:
        await self.ctx.store.add_turn(
            photo.chat_id, photo.stored.id, TurnKind.QUESTION, question, text,
            CHECKS_MODEL_NAME, round(ms_since(started)),
        )  # fmt: skip
        return Reply(text, ReplyKind.ANSWER, image_id=photo.stored.id)
