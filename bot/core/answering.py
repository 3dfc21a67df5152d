"""Follow-up questions about a photo, answered with the chat's earlier Q&A about it as context.

The prompt carries the history (oldest exchanges dropped first when over the model's budget),
the history keeps the model's own words, and the person hears them hedged when it was unsure.
"""

from __future__ import annotations

import time

from bot.core import texts
from bot.core.checking import CheckFlow
from bot.core.context import CoreContext
from bot.core.failures import replies_on_failure
from bot.core.generating import ModelPlan, carry_out, model_request, record_turn
from bot.core.options import COLOUR_REQUEST, READ_REQUEST, SCAN_REQUEST
from bot.core.photos import ChatPhoto, current_photo
from bot.core.reading import ReadFlow
from bot.core.settings import SettingsFlow
from bot.core.speech import with_voice
from bot.core.types import ChatRef, QueueCallback, Reply, ReplyKind
from bot.core.wording import hedge, is_unsure, sentence
from inference.prompts import question_prompt
from inference.types import GenerationResult
from storage import TurnKind


class AnswerFlow:
    """A question about the current photo (or the one a reply points at).

    Reading requests go to OCR, code questions to the code reader, and "what colour is it?" to
    the colour check when the photo is mostly one object: exact answers where the model guesses.
    """

    def __init__(
        self, ctx: CoreContext, settings: SettingsFlow, reading: ReadFlow, checking: CheckFlow
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.reading = reading
        self.checking = checking

    @replies_on_failure
    async def ask(
        self,
        chat: ChatRef,
        question: str,
        *,
        about_message_id: str | None = None,
        on_queued: QueueCallback | None = None,
    ) -> Reply:
        """A follow-up question about the chat's current photo, or the photo a reply points at."""
        question = question.strip()
        if not question:
            return Reply(texts.EMPTY_QUESTION, ReplyKind.INFO)
        if SCAN_REQUEST.match(question):  # before READ_REQUEST: "what does the code say?" is a code
            return await self.checking.scan(chat, about_message_id=about_message_id)
        if READ_REQUEST.match(question):
            return await self.reading.read_text(chat, about_message_id=about_message_id)
        photo = await current_photo(self.ctx, chat, about_message_id)
        if isinstance(photo, Reply):
            return photo
        prefs = await self.settings.preferences(chat)
        if (
            prefs.colours
            and COLOUR_REQUEST.match(question)
            and (colour := await self.checking.colour_of_one_object(photo))
        ):
            return await with_voice(self.ctx.speaker, colour, prefs.voice)
        plan = await self.plan(photo, question)
        [reply] = await carry_out(self.ctx, chat, [plan], on_queued)
        return await with_voice(self.ctx.speaker, reply, prefs.voice)

    async def plan(self, photo: ChatPhoto, question: str) -> ModelPlan:
        """The one request that answers `question` about `photo`, its prompt carrying the history."""
        model = self.ctx.queue.model
        if not model.can_answer_questions:
            return ModelPlan(photo.stored.id, [], lambda _: _caption_only(photo))
        history = await self.ctx.store.history(photo.chat_id, photo.stored.id)
        prompt = question_prompt(
            question, history, count_tokens=model.count_tokens, budget_tokens=model.prompt_budget_tokens
        )
        request = model_request(self.ctx, photo, prompt, self.ctx.options.answer_options)
        started = time.perf_counter()
        return ModelPlan(
            photo.stored.id,
            [request],
            lambda results: self.finish(photo, question, results, started),
            kind="answer",
            params={"question": question},
            reply_to=photo.message_id,
        )

    async def finish(
        self, photo: ChatPhoto, question: str, results: list[GenerationResult], started: float
    ) -> Reply:
        """The answer as the person hears it; the history keeps the model's own words."""
        [result] = results
        await record_turn(self.ctx, photo, TurnKind.QUESTION, question, sentence(result.text), started)
        unsure = is_unsure(result.mean_logprob, self.ctx.options.low_confidence_logprob)
        return Reply(hedge(result.text, unsure, is_answer=True), ReplyKind.ANSWER, image_id=photo.stored.id)


async def _caption_only(photo: ChatPhoto) -> Reply:
    return Reply(texts.CAPTION_ONLY, ReplyKind.INFO, image_id=photo.stored.id)
