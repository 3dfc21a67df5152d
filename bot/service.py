"""The platform-neutral core: a photo, a question or a command in; the reply out.

Adapters translate platform objects into `ChatRef`s and bytes and call one method per user
action. The service validates the picture, keeps the conversation in the store, builds the
prompts (with the chat's Q&A history), waits for the inference worker, reads text with OCR
beside it, and words the answer for a screen reader. Whatever goes wrong becomes a short
`Reply` the user can act on: nothing a user sends can raise out of here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from PIL import Image

from bot import texts
from bot.failures import failure_reply, replies_on_failure
from bot.images import ImageError, PreparedImage, prepare_image
from bot.preferences import (
    Detail,
    Preferences,
)
from bot.ratelimit import RateLimiter
from bot.service_options import OCR_MODEL_NAME, READ_REQUEST, ServiceOptions
from bot.settings_commands import SettingsCommands
from bot.speech import Speaker, SpeechUnavailable
from bot.submit_together import DOOR, SubmitTogether, at_the_door, left_without_arriving
from bot.types import ChatRef, QueueCallback, Reply, ReplyKind, Upload
from bot.wording import alt_text, hedge, is_unsure, sentence, weave
from inference.ocr import OcrResult, OcrUnavailable, installed_languages, read_text
from inference.prompts import caption_prompt, detail_prompts, question_prompt
from inference.types import (
    Engine,
    GenerationOptions,
    GenerationRequest,
    GenerationResult,
)
from inference.worker import InferenceQueue, Ticket, WorkerBusy, WorkerStopped
from storage import NotFoundError, Store, StoredImage, TurnKind

log = logging.getLogger(__name__)


class ChatService(SettingsCommands):
    """One instance serves every adapter; it holds no per-chat state of its own but the rate limits."""

    def __init__(
        self,
        store: Store,
        queue: InferenceQueue,
        engine: Engine,
        options: ServiceOptions,
        *,
        speaker: Speaker | None = None,
        ocr: Callable[[Image.Image, str], OcrResult] = read_text,
        ocr_languages: Callable[[], list[str]] = installed_languages,
    ) -> None:
        self.store = store
        self.queue = queue
        self.engine = engine
        self.options = options
        self.speaker = speaker or Speaker()
        self.ocr = ocr
        self.ocr_languages = ocr_languages
        self.rate_limiter = RateLimiter(options.photos_per_minute, 60.0)

    # -- photos and questions ---------------------------------------------------------

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
        accepted = await self._accept(chat, data, message_id)
        if isinstance(accepted, Reply):
            return accepted
        return await self._respond(chat, accepted, question, detail, await self.preferences(chat), on_queued)

    async def describe_photos(
        self,
        chat: ChatRef,
        uploads: Sequence[Upload],
        *,
        question: str | None = None,
        on_queued: QueueCallback | None = None,
    ) -> list[Reply]:
        """Several photos at once (an album): one reply each, in order.

        All their requests are submitted together, so the worker answers them in shared batches
        instead of one photo after another; the last photo becomes the current one.
        """
        try:
            accepted = [await self._accept(chat, upload.data, upload.message_id) for upload in uploads]
            prefs = await self.preferences(chat)
        except Exception as error:
            return [failure_reply(error, "describe_photos", chat)] * len(uploads)
        door = SubmitTogether(len(accepted))

        async def respond(index: int, item: tuple[int, StoredImage, PreparedImage] | Reply) -> Reply:
            DOOR.set((door, index))
            try:
                if isinstance(item, Reply):
                    return item
                return await self._respond(chat, item, question, None, prefs, on_queued)
            finally:
                left_without_arriving(door)

        results = await asyncio.gather(
            *(respond(i, item) for i, item in enumerate(accepted)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancellation, shutdown: not a failure to apologise for
        replies = [
            failure_reply(result, "describe_photos", chat) if isinstance(result, Exception) else result
            for result in results
        ]
        stored = [item for item in accepted if not isinstance(item, Reply)]
        if stored:  # answers finished in any order; the album's last photo is the one to ask about
            chat_id, last, _ = stored[-1]
            with contextlib.suppress(NotFoundError):
                await self.store.set_active_image(chat_id, last.id)
        return replies

    @replies_on_failure
    async def add_photo(self, chat: ChatRef, data: bytes, *, message_id: str | None = None) -> Reply | None:
        """Validate and keep a photo as the chat's current one without describing it.

        For commands that bring their own picture (/alt with an image, say): None when the photo
        was stored, else the Reply saying why not.
        """
        accepted = await self._accept(chat, data, message_id)
        return accepted if isinstance(accepted, Reply) else None

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
        if READ_REQUEST.match(question):
            return await self.read_text(chat, about_message_id=about_message_id)
        found = await self._current_photo(chat, about_message_id)
        if isinstance(found, Reply):
            return found
        chat_id, stored, prepared = found
        reply = await self._answer(chat, chat_id, stored, prepared, question, on_queued)
        return await self._voiced(reply, await self.preferences(chat))

    @replies_on_failure
    async def describe_again(self, chat: ChatRef, *, on_queued: QueueCallback | None = None) -> Reply:
        """/describe: the current photo again, at full detail (text read out included)."""
        found = await self._current_photo(chat, None)
        if isinstance(found, Reply):
            return found
        chat_id, stored, prepared = found
        reply = await self._describe(chat, chat_id, stored, prepared, "full", on_queued)
        return await self._voiced(reply, await self.preferences(chat))

    @replies_on_failure
    async def read_text(self, chat: ChatRef, *, about_message_id: str | None = None) -> Reply:
        """/read: the text in the current photo, read by OCR (never guessed by the model)."""
        found = await self._current_photo(chat, about_message_id)
        if isinstance(found, Reply):
            return found
        chat_id, stored, prepared = found
        prefs = await self.preferences(chat)
        return await self._voiced(await self._read(chat_id, stored, prepared, prefs), prefs)

    @replies_on_failure
    async def alt_text(
        self, chat: ChatRef, *, about_message_id: str | None = None, on_queued: QueueCallback | None = None
    ) -> Reply:
        """/alt: one description of at most the user's alt text length, cut at a word boundary."""
        found = await self._current_photo(chat, about_message_id)
        if isinstance(found, Reply):
            return found
        chat_id, stored, prepared = found
        prefs = await self.preferences(chat)
        request = self._request(stored, prepared, caption_prompt(self.options.caption_prefix), None)
        started = time.perf_counter()
        results = await self._generate(chat, [request], on_queued)
        if isinstance(results, Reply):
            return replace(results, image_id=stored.id)
        text = alt_text(results[0].text, prefs.alt_text_chars)
        await self._record(chat_id, stored, TurnKind.CAPTION, None, text, _ms_since(started))
        return await self._voiced(Reply(text, ReplyKind.ANSWER, image_id=stored.id), prefs)

    # -- conversation commands --------------------------------------------------------

    async def link_reply(self, chat: ChatRef, message_id: str, image_id: int) -> None:
        """Remember that the bot's message `message_id` is about `image_id` (for replies to it)."""
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        await self.store.link_message(chat_id, message_id, image_id)

    async def has_photo_for(self, chat: ChatRef, message_id: str) -> bool:
        """Whether `message_id` in this chat is a photo (or an answer about one) the bot knows."""
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        return await self.store.image_for_message(chat_id, message_id) is not None

    @replies_on_failure
    async def reset(self, chat: ChatRef) -> Reply:
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        await self.store.reset(chat_id)
        return Reply(texts.RESET_DONE, ReplyKind.INFO)

    @replies_on_failure
    async def forget(self, chat: ChatRef) -> Reply:
        """Delete the chat's photos, turns and links, and this user's settings."""
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        image_keys = await self.store.image_hashes(chat_id)
        await self.store.forget(chat_id, user_id=chat.user_id)
        self.engine.forget(image_keys)  # the model's in-memory caches of those photos too
        log.info("forgot chat platform=%s chat=%s", chat.platform, chat.chat_id)
        return Reply(texts.FORGET_DONE, ReplyKind.INFO)

    def help(self) -> Reply:
        return Reply(texts.HELP, ReplyKind.INFO)

    def privacy(self) -> Reply:
        return Reply(texts.PRIVACY.format(days=self.options.retention_days), ReplyKind.INFO)

    # -- retention --------------------------------------------------------------------

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete photos and turns older than the retention period; returns rows deleted."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.options.retention_days)
        deleted = await self.store.purge_older_than(cutoff)
        if deleted:
            log.info("retention: deleted %d old rows", deleted)
        return deleted

    async def run_retention(self, interval_s: float) -> None:
        """Purge now and then every `interval_s`, until cancelled."""
        while True:
            try:
                await self.purge_expired()
            except Exception:
                log.exception("retention purge failed; will try again")
            await asyncio.sleep(interval_s)

    # -- the steps --------------------------------------------------------------------

    def _prepare(self, data: bytes) -> PreparedImage:
        return prepare_image(
            data, max_bytes=self.options.max_image_bytes, max_pixels=self.options.max_image_pixels
        )

    async def _accept(
        self, chat: ChatRef, data: bytes, message_id: str | None
    ) -> tuple[int, StoredImage, PreparedImage] | Reply:
        """Rate-limit, validate and store an uploaded photo as the chat's current one."""
        rate_key = (chat.platform, chat.user_id)
        if not self.rate_limiter.allow(rate_key):
            return Reply(texts.rate_limited(self.rate_limiter.retry_after_s(rate_key)), ReplyKind.ERROR)
        try:
            prepared = await asyncio.to_thread(self._prepare, data)
        except ImageError as error:
            return Reply(str(error), ReplyKind.ERROR)
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        stored = await self.store.add_image(chat_id, data, prepared.mime, prepared.width, prepared.height)
        if message_id is not None:
            await self.store.link_message(chat_id, message_id, stored.id)
        return chat_id, stored, prepared

    async def _respond(
        self,
        chat: ChatRef,
        accepted: tuple[int, StoredImage, PreparedImage],
        question: str | None,
        detail: Detail | None,
        prefs: Preferences,
        on_queued: QueueCallback | None,
    ) -> Reply:
        """The answer to a new photo: its caption's question, its text, or its description."""
        chat_id, stored, prepared = accepted
        question = (question or "").strip()
        if question and READ_REQUEST.match(question):
            reply = await self._read(chat_id, stored, prepared, prefs)
        elif question:
            reply = await self._answer(chat, chat_id, stored, prepared, question, on_queued)
        else:
            reply = await self._describe(chat, chat_id, stored, prepared, detail or prefs.detail, on_queued)
        return await self._voiced(reply, prefs)

    async def _current_photo(
        self, chat: ChatRef, about_message_id: str | None
    ) -> tuple[int, StoredImage, PreparedImage] | Reply:
        """The photo a command is about (a replied-to one becomes current), decoded; or a Reply why not."""
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        stored = None
        if about_message_id is not None:
            stored = await self.store.image_for_message(chat_id, about_message_id)
            if stored is not None:
                await self.store.set_active_image(chat_id, stored.id)
        stored = stored or await self.store.active_image(chat_id)
        if stored is None:
            return Reply(texts.NEED_PHOTO, ReplyKind.INFO)
        try:
            prepared = await asyncio.to_thread(self._prepare, stored.data)
        except ImageError:
            log.error("stored image %d could not be decoded again", stored.id)
            return Reply(texts.FAILED, ReplyKind.ERROR)
        return chat_id, stored, prepared

    def _request(
        self, stored: StoredImage, prepared: PreparedImage, prompt: str, options: GenerationOptions | None
    ) -> GenerationRequest:
        return GenerationRequest(
            image=prepared.image,
            image_key=stored.content_hash,
            prompt=prompt,
            options=options or self.options.caption_options,
        )

    async def _describe(
        self,
        chat: ChatRef,
        chat_id: int,
        stored: StoredImage,
        prepared: PreparedImage,
        detail: Detail,
        on_queued: QueueCallback | None,
    ) -> Reply:
        """Brief: the caption. Normal: caption plus the detail questions, one batch. Full: plus OCR."""
        prompts = {"caption": caption_prompt(self.options.caption_prefix)}
        if detail != "brief" and self.engine.can_answer_questions:  # a caption-only model: caption + OCR
            prompts.update(detail_prompts())
        prefs = await self.preferences(chat)
        ocr_task = None
        if detail == "full":  # read beside the model, not through its queue
            ocr_task = asyncio.create_task(self._ocr(prepared.image, prefs.ocr_language))
        requests = [self._request(stored, prepared, prompt, None) for prompt in prompts.values()]
        started = time.perf_counter()
        results = await self._generate(chat, requests, on_queued)
        ocr_result = await ocr_task if ocr_task is not None else None
        if isinstance(results, Reply):
            return replace(results, image_id=stored.id)
        caption = results[0]
        unsure = is_unsure(caption.mean_logprob, self.options.low_confidence_logprob)
        if detail == "brief" or (len(results) == 1 and ocr_result is None):
            text = hedge(caption.text, unsure)
        else:
            answers = {key: result.text for key, result in zip(list(prompts)[1:], results[1:], strict=True)}
            found_text = None if ocr_result is None else ocr_result.text
            text = weave(hedge(caption.text, unsure), answers, read_text=found_text)
        await self._record(chat_id, stored, TurnKind.CAPTION, None, text, _ms_since(started))
        return Reply(text, ReplyKind.ANSWER, image_id=stored.id)

    async def _answer(
        self,
        chat: ChatRef,
        chat_id: int,
        stored: StoredImage,
        prepared: PreparedImage,
        question: str,
        on_queued: QueueCallback | None,
    ) -> Reply:
        if not self.engine.can_answer_questions:
            return Reply(texts.CAPTION_ONLY, ReplyKind.INFO, image_id=stored.id)
        history = await self.store.history(chat_id, stored.id)
        prompt = question_prompt(
            question,
            history,
            count_tokens=self.engine.count_tokens,
            budget_tokens=self.engine.prompt_budget_tokens,
        )
        request = self._request(stored, prepared, prompt, self.options.answer_options)
        started = time.perf_counter()
        results = await self._generate(chat, [request], on_queued)
        if isinstance(results, Reply):
            return replace(results, image_id=stored.id)
        [result] = results
        # The history keeps the model's own words; the person hears them hedged when unsure.
        await self._record(
            chat_id, stored, TurnKind.QUESTION, question, sentence(result.text), _ms_since(started)
        )
        unsure = is_unsure(result.mean_logprob, self.options.low_confidence_logprob)
        return Reply(hedge(result.text, unsure, is_answer=True), ReplyKind.ANSWER, image_id=stored.id)

    async def _read(
        self, chat_id: int, stored: StoredImage, prepared: PreparedImage, prefs: Preferences
    ) -> Reply:
        started = time.perf_counter()
        result = await self._ocr(prepared.image, prefs.ocr_language)
        if result is None:
            return Reply(texts.OCR_UNAVAILABLE, ReplyKind.ERROR, image_id=stored.id)
        text = texts.text_found(result.text) if result.found else texts.NO_TEXT_FOUND
        ocr_ms = _ms_since(started)
        await self.store.add_turn(
            chat_id, stored.id, TurnKind.QUESTION, texts.READ_QUESTION, text, OCR_MODEL_NAME, round(ocr_ms)
        )
        log.info("read text chat_id=%d ocr_ms=%.0f words=%d", chat_id, ocr_ms, len(result.text.split()))
        return Reply(text, ReplyKind.ANSWER, image_id=stored.id)

    async def _ocr(self, image: Image.Image, language: str) -> OcrResult | None:
        try:
            return await asyncio.to_thread(self.ocr, image, language)
        except OcrUnavailable as error:
            log.warning("OCR unavailable: %s", error)
        except Exception:
            log.exception("OCR failed")
        return None

    async def _generate(
        self, chat: ChatRef, requests: list[GenerationRequest], on_queued: QueueCallback | None
    ) -> list[GenerationResult] | Reply:
        """Submit together (so they share a batch), tell the place in line, await every answer."""
        if not await at_the_door():
            on_queued = None
        tickets: list[Ticket] = []
        try:
            for request in requests:
                tickets.append(self.queue.submit(request, order_key=(chat.platform, chat.chat_id)))
        except (WorkerBusy, WorkerStopped) as error:
            for ticket in tickets:
                ticket.job.future.cancel()
            return Reply(texts.BUSY if isinstance(error, WorkerBusy) else texts.STOPPING, ReplyKind.ERROR)
        if tickets[0].ahead > 0 and on_queued is not None:
            try:
                await on_queued(tickets[0].ahead + 1)
            except Exception:  # a failed "you are number N" must not lose the answer
                log.warning("could not send the queue position to chat %s", chat.chat_id, exc_info=True)
        try:
            async with asyncio.timeout(self.options.request_timeout_s):
                results = [await ticket.result() for ticket in tickets]
        except TimeoutError:
            return Reply(texts.TIMEOUT, ReplyKind.ERROR)
        except WorkerStopped:
            return Reply(texts.STOPPING, ReplyKind.ERROR)
        except Exception:
            log.exception("generation failed platform=%s chat=%s", chat.platform, chat.chat_id)
            return Reply(texts.FAILED, ReplyKind.ERROR)
        finally:
            for ticket in tickets:
                ticket.job.future.cancel()  # no-op when answered; drops the rest on timeout
        log.info(
            "answered platform=%s chat=%s requests=%d queue_wait_ms=%.0f generation_ms=%.0f tokens=%d",
            chat.platform, chat.chat_id, len(results), tickets[0].queue_wait_ms,
            max(r.generation_ms for r in results), sum(r.new_tokens for r in results),
        )  # fmt: skip
        return results

    async def _record(
        self,
        chat_id: int,
        stored: StoredImage,
        kind: TurnKind,
        question: str | None,
        answer: str,
        latency_ms: float,
    ) -> None:
        await self.store.add_turn(
            chat_id, stored.id, kind, question, answer, self.engine.name, round(latency_ms)
        )

    async def _voiced(self, reply: Reply, prefs: Preferences) -> Reply:
        """The reply with voice notes added, when this person asked for spoken replies."""
        if not prefs.voice or reply.kind is not ReplyKind.ANSWER:
            return reply
        try:
            notes = await self.speaker.voice_notes(reply.text)
        except SpeechUnavailable as error:
            log.warning("voice reply skipped: %s", error)
            return reply
        return replace(reply, voice=tuple(notes))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
