"""New photos: checked, stored, and described (or their caption's question answered).

A description at the person's detail level is one caption plus, above "brief", the detail
questions, all in one batch; "full" reads the text with OCR beside the model. Beside it too run
the quick checks (codes, light; see checking.py), whose sentences come before the description.
An album's photos are planned first and submitted together, so they share batches instead of
queueing one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Sequence

from bot.core.answering import AnswerFlow
from bot.core.checking import start_checks
from bot.core.context import CoreContext
from bot.core.failures import failure_reply, replies_on_failure
from bot.core.generating import ModelPlan, carry_out, model_request, record_turn
from bot.core.options import COLOUR_REQUEST, READ_REQUEST, SCAN_REQUEST
from bot.core.photos import ChatPhoto, accept_photo, current_photo
from bot.core.preferences import Detail, Preferences
from bot.core.reading import ReadFlow
from bot.core.settings import SettingsFlow
from bot.core.speech import with_voice
from bot.core.types import ChatRef, QueueCallback, Reply, ReplyKind, Upload
from bot.core.wording import alt_text, hedge, is_unsure, weave
from inference.ocr import OcrResult
from inference.prompts import caption_prompt, detail_prompts
from inference.types import GenerationResult
from storage import NotFoundError, TurnKind


class DescribeFlow:
    """Photos in, descriptions out: one photo, an album, /describe again, and /alt."""

    def __init__(
        self, ctx: CoreContext, settings: SettingsFlow, reading: ReadFlow, answering: AnswerFlow
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.reading = reading
        self.answering = answering

    @replies_on_failure
    async def describe_photo(
        self,
        chat: ChatRef,
        data: bytes,
        *,
        question: str | None = None,
        message_id: str | None = None,
        on_queued: QueueCallback | None = None,
        detail: Detail | None = None,
    ) -> Reply:
        """A photo arrived, perhaps with a question as its caption; `detail` overrides the user's."""
        photo = await accept_photo(self.ctx, chat, data, message_id)
        if isinstance(photo, Reply):
            return photo
        prefs = await self.settings.preferences(chat)
        plan = await self._respond(photo, question, detail or prefs.detail, prefs)
        [reply] = await carry_out(self.ctx, chat, [plan], on_queued)
        return await with_voice(self.ctx.speaker, reply, prefs.voice)

    async def describe_photos(
        self,
        chat: ChatRef,
        uploads: Sequence[Upload],
        *,
        question: str | None = None,
        on_queued: QueueCallback | None = None,
    ) -> list[Reply]:
        """Several photos at once (an album): one reply each, in order.

        Their requests go to the queue in one hand-over, so the worker answers them in shared
        batches instead of one photo after another; the last photo becomes the current one.
        """
        try:
            photos = [
                await accept_photo(self.ctx, chat, upload.data, upload.message_id) for upload in uploads
            ]
            prefs = await self.settings.preferences(chat)
            accepted = [photo for photo in photos if isinstance(photo, ChatPhoto)]
            plans = [await self._respond(photo, question, prefs.detail, prefs) for photo in accepted]
            answers = iter(await carry_out(self.ctx, chat, plans, on_queued))
        except Exception as error:
            return [failure_reply(error, "describe_photos", chat)] * len(uploads)
        replies = [photo if isinstance(photo, Reply) else next(answers) for photo in photos]
        if accepted:  # answers finished in any order; the album's last photo is the one to ask about
            with contextlib.suppress(NotFoundError):
                await self.ctx.store.set_active_image(accepted[-1].chat_id, accepted[-1].stored.id)
        return [await with_voice(self.ctx.speaker, reply, prefs.voice) for reply in replies]

    @replies_on_failure
    async def add_photo(self, chat: ChatRef, data: bytes, *, message_id: str | None = None) -> Reply | None:
        """Validate and keep a photo as the chat's current one without describing it.

        For commands that bring their own picture (/alt with an image, say): None when the photo
        was stored, else the Reply saying why not.
        """
        photo = await accept_photo(self.ctx, chat, data, message_id)
        return photo if isinstance(photo, Reply) else None

    @replies_on_failure
    async def describe_again(self, chat: ChatRef, *, on_queued: QueueCallback | None = None) -> Reply:
        """/describe: the current photo again, at full detail (text read out included)."""
        photo = await current_photo(self.ctx, chat, None)
        if isinstance(photo, Reply):
            return photo
        prefs = await self.settings.preferences(chat)
        [reply] = await carry_out(self.ctx, chat, [self.describe_plan(photo, "full", prefs)], on_queued)
        return await with_voice(self.ctx.speaker, reply, prefs.voice)

    @replies_on_failure
    async def alt_text(
        self, chat: ChatRef, *, about_message_id: str | None = None, on_queued: QueueCallback | None = None
    ) -> Reply:
        """/alt: one description of at most the user's alt text length, cut at a word boundary."""
        photo = await current_photo(self.ctx, chat, about_message_id)
        if isinstance(photo, Reply):
            return photo
        prefs = await self.settings.preferences(chat)
        [reply] = await carry_out(self.ctx, chat, [self.alt_plan(photo, prefs.alt_text_chars)], on_queued)
        return await with_voice(self.ctx.speaker, reply, prefs.voice)

    def alt_plan(self, photo: ChatPhoto, chars: int) -> ModelPlan:
        request = model_request(self.ctx, photo, caption_prompt(self.ctx.options.caption_prefix))
        started = time.perf_counter()
        return ModelPlan(
            photo.stored.id,
            [request],
            lambda results: self.finish_alt(photo, chars, results, started),
            kind="alt",
            params={"chars": chars},
            reply_to=photo.message_id,
        )

    async def finish_alt(
        self, photo: ChatPhoto, chars: int, results: list[GenerationResult], started: float
    ) -> Reply:
        text = alt_text(results[0].text, chars)
        await record_turn(self.ctx, photo, TurnKind.CAPTION, None, text, started)
        return Reply(text, ReplyKind.ANSWER, image_id=photo.stored.id)

    async def _respond(
        self, photo: ChatPhoto, question: str | None, detail: Detail, prefs: Preferences
    ) -> ModelPlan:
        """The plan for a new photo: its caption's question, its text, its codes, or its description.

        A code question is checked before a reading one ("what does the code say?" is a code).
        """
        question = (question or "").strip()
        if question and SCAN_REQUEST.match(question):
            scanning = asyncio.create_task(self.answering.checking.scan_photo(photo))  # beside any model work
            return ModelPlan(photo.stored.id, [], lambda _: scanning, beside=scanning)
        if question and READ_REQUEST.match(question):
            reading = asyncio.create_task(self.reading.read(photo, prefs))  # beside any model work
            return ModelPlan(photo.stored.id, [], lambda _: reading, beside=reading)
        if question and prefs.colours and COLOUR_REQUEST.match(question):
            colour = await self.answering.checking.colour_of_one_object(photo)
            if colour is not None:
                return ModelPlan(photo.stored.id, [], lambda _: _ready(colour))
        if question:
            return await self.answering.plan(photo, question)
        return self.describe_plan(photo, detail, prefs)

    def describe_plan(self, photo: ChatPhoto, detail: Detail, prefs: Preferences) -> ModelPlan:
        """Brief: the caption. Normal: caption plus the detail questions, one batch. Full: plus OCR."""
        prompts = {"caption": caption_prompt(self.ctx.options.caption_prefix)}
        if detail != "brief" and self.ctx.queue.model.can_answer_questions:  # else caption + OCR
            prompts.update(detail_prompts())
        ocr = None
        if detail == "full":  # read beside the model, not through its queue
            ocr = asyncio.create_task(self.reading.ocr(photo.prepared.image, prefs.ocr_language))
        checks = start_checks(photo, prefs)  # codes and light, also beside the model
        beside = [task for task in (ocr, checks) if task is not None]
        requests = [model_request(self.ctx, photo, prompt) for prompt in prompts.values()]
        started = time.perf_counter()
        keys = list(prompts)
        return ModelPlan(
            photo.stored.id,
            requests,
            lambda results: self.finish_description(photo, detail, keys, results, started, ocr, checks),
            beside=asyncio.gather(*beside) if beside else None,  # cancelling it cancels each
            kind="describe",
            params={"detail": detail, "keys": keys, "ocr_language": prefs.ocr_language},
            reply_to=photo.message_id,
        )

    async def finish_description(
        self,
        photo: ChatPhoto,
        detail: Detail,
        keys: list[str],
        results: list[GenerationResult],
        started: float,
        ocr: Awaitable[OcrResult | None] | None = None,
        checks: Awaitable[list[str]] | None = None,
    ) -> Reply:
        """The caption, woven with the detail answers (keyed as `keys`) and the text OCR found.

        What the quick `checks` found comes first (the codes, then a light hint): a link on a
        menu, or "too dark, try again", matters before a description of a blurred table.
        """
        ocr_result = await ocr if ocr is not None else None
        said = await checks if checks is not None else []
        caption = results[0]
        unsure = is_unsure(caption.mean_logprob, self.ctx.options.low_confidence_logprob)
        if detail == "brief" or (len(results) == 1 and ocr_result is None):
            text = hedge(caption.text, unsure)
        else:
            answers = {key: r.text for key, r in zip(keys[1:], results[1:], strict=True)}
            found_text = None if ocr_result is None else ocr_result.text
            text = weave(hedge(caption.text, unsure), answers, read_text=found_text)
        text = " ".join([*said, text])
        await record_turn(self.ctx, photo, TurnKind.CAPTION, None, text, started)
        return Reply(text, ReplyKind.ANSWER, image_id=photo.stored.id)


async def _ready(reply: Reply) -> Reply:
    """A reply already made (by a quick check), as a plan's finish wants it: awaitable."""
    return reply
