"""The platform-neutral core: a photo, a question or a command in; the reply text out.

Adapters translate platform objects into `ChatRef`s and bytes and call one method per user
action. The service validates the picture, keeps the conversation in the store, builds the
prompt from the chat's Q&A history and waits for the inference worker. Whatever goes wrong
becomes a short `Reply` the user can act on: nothing a user sends can raise out of here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bot import texts
from bot.images import ImageError, PreparedImage, prepare_image
from bot.ratelimit import RateLimiter
from bot.types import ChatRef, QueueCallback, Reply, ReplyKind
from inference.prompts import caption_prompt, question_prompt
from inference.types import ANSWER_OPTIONS, CAPTION_OPTIONS, Engine, GenerationOptions, GenerationRequest
from inference.worker import InferenceQueue, WorkerBusy, WorkerStopped
from storage import Store, StoredImage, TurnKind

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """The knobs of the core, taken from the config at start."""

    caption_options: GenerationOptions = CAPTION_OPTIONS
    answer_options: GenerationOptions = ANSWER_OPTIONS
    caption_prefix: str = ""
    max_image_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    photos_per_minute: int = 10
    request_timeout_s: float = 120.0
    retention_days: int = 30

    @property
    def detailed_caption_options(self) -> GenerationOptions:
        """/describe: the same decoding, allowed to say more and nudged not to stop early."""
        longest = max(self.caption_options.max_new_tokens * 2, 40)
        return replace(self.caption_options, max_new_tokens=longest, min_new_tokens=min(12, longest))


class ChatService:
    """One instance serves every adapter; it holds no per-chat state of its own but the rate limits."""

    def __init__(self, store: Store, queue: InferenceQueue, engine: Engine, options: ServiceOptions) -> None:
        self.store = store
        self.queue = queue
        self.engine = engine
        self.options = options
        self.rate_limiter = RateLimiter(options.photos_per_minute, 60.0)

    # -- user actions -----------------------------------------------------------------

    async def describe_photo(
        self,
        chat: ChatRef,
        data: bytes,
        *,
        question: str | None = None,
        message_id: str | None = None,
        on_queued: QueueCallback | None = None,
    ) -> Reply:
        """A photo arrived, perhaps with a question as its caption."""
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
        question = (question or "").strip()
        if question:
            return await self._answer(chat, chat_id, stored, prepared, question, on_queued)
        return await self._caption(chat, chat_id, stored, prepared, self.options.caption_options, on_queued)

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
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        stored = await self._photo_for(chat_id, about_message_id)
        if stored is None:
            return Reply(texts.NEED_PHOTO, ReplyKind.INFO)
        prepared = await self._reopen(stored)
        if prepared is None:
            return Reply(texts.FAILED, ReplyKind.ERROR)
        return await self._answer(chat, chat_id, stored, prepared, question, on_queued)

    async def describe_again(self, chat: ChatRef, *, on_queued: QueueCallback | None = None) -> Reply:
        """/describe: a longer description of the current photo."""
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        stored = await self.store.active_image(chat_id)
        if stored is None:
            return Reply(texts.NEED_PHOTO, ReplyKind.INFO)
        prepared = await self._reopen(stored)
        if prepared is None:
            return Reply(texts.FAILED, ReplyKind.ERROR)
        return await self._caption(
            chat, chat_id, stored, prepared, self.options.detailed_caption_options, on_queued
        )

    async def link_reply(self, chat: ChatRef, message_id: str, image_id: int) -> None:
        """Remember that the bot's message `message_id` is about `image_id` (for replies to it)."""
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        await self.store.link_message(chat_id, message_id, image_id)

    async def has_photo_for(self, chat: ChatRef, message_id: str) -> bool:
        """Whether `message_id` in this chat is a photo (or an answer about one) the bot knows."""
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        return await self.store.image_for_message(chat_id, message_id) is not None

    async def reset(self, chat: ChatRef) -> Reply:
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        await self.store.reset(chat_id)
        return Reply(texts.RESET_DONE, ReplyKind.INFO)

    async def forget(self, chat: ChatRef) -> Reply:
        chat_id = await self.store.chat_id(chat.platform, chat.chat_id)
        await self.store.forget(chat_id, user_id=chat.user_id)
        log.info("forgot chat platform=%s chat=%s", chat.platform, chat.chat_id)
        return Reply(texts.FORGET_DONE, ReplyKind.INFO)

    def help(self) -> Reply:
        return Reply(texts.HELP, ReplyKind.INFO)

    def privacy(self) -> Reply:
        return Reply(texts.PRIVACY.format(days=self.options.retention_days), ReplyKind.INFO)

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

    async def _reopen(self, stored: StoredImage) -> PreparedImage | None:
        try:
            return await asyncio.to_thread(self._prepare, stored.data)
        except ImageError:
            log.error("stored image %d could not be decoded again", stored.id)
            return None

    async def _photo_for(self, chat_id: int, about_message_id: str | None) -> StoredImage | None:
        if about_message_id is not None:
            stored = await self.store.image_for_message(chat_id, about_message_id)
            if stored is not None:
                await self.store.set_active_image(chat_id, stored.id)
                return stored
        return await self.store.active_image(chat_id)

    async def _caption(
        self,
        chat: ChatRef,
        chat_id: int,
        stored: StoredImage,
        prepared: PreparedImage,
        options: GenerationOptions,
        on_queued: QueueCallback | None,
    ) -> Reply:
        prompt = caption_prompt(self.options.caption_prefix)
        return await self._generate(
            chat, chat_id, stored, prepared, prompt, options, TurnKind.CAPTION, None, on_queued
        )

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
        return await self._generate(
            chat, chat_id, stored, prepared, prompt, self.options.answer_options,
            TurnKind.QUESTION, question, on_queued,
        )  # fmt: skip

    async def _generate(
        self,
        chat: ChatRef,
        chat_id: int,
        stored: StoredImage,
        prepared: PreparedImage,
        prompt: str,
        options: GenerationOptions,
        kind: TurnKind,
        question: str | None,
        on_queued: QueueCallback | None,
    ) -> Reply:
        request = GenerationRequest(
            image=prepared.image, image_key=stored.content_hash, prompt=prompt, options=options
        )
        started = time.perf_counter()
        try:
            ticket = self.queue.submit(request, order_key=(chat.platform, chat.chat_id))
        except WorkerBusy:
            return Reply(texts.BUSY, ReplyKind.ERROR, image_id=stored.id)
        except WorkerStopped:
            return Reply(texts.STOPPING, ReplyKind.ERROR, image_id=stored.id)
        if ticket.ahead > 0 and on_queued is not None:
            try:
                await on_queued(ticket.ahead + 1)
            except Exception:  # a failed "you are number N" must not lose the answer
                log.warning("could not send the queue position to chat %s", chat.chat_id, exc_info=True)
        try:
            result = await asyncio.wait_for(ticket.result(), self.options.request_timeout_s)
        except TimeoutError:
            return Reply(texts.TIMEOUT, ReplyKind.ERROR, image_id=stored.id)
        except WorkerStopped:
            return Reply(texts.STOPPING, ReplyKind.ERROR, image_id=stored.id)
        except Exception:
            log.exception("generation failed platform=%s chat=%s", chat.platform, chat.chat_id)
            return Reply(texts.FAILED, ReplyKind.ERROR, image_id=stored.id)
        latency_ms = (time.perf_counter() - started) * 1000
        text = to_sentence(result.text)
        await self.store.add_turn(
            chat_id, stored.id, kind, question, text, self.engine.name, round(latency_ms)
        )
        log.info(
            "answered platform=%s chat=%s kind=%s queue_wait_ms=%.0f generation_ms=%.0f tokens=%d",
            chat.platform, chat.chat_id, kind.value, ticket.queue_wait_ms, result.generation_ms,
            result.new_tokens,
        )  # fmt: skip
        return Reply(text, ReplyKind.ANSWER, image_id=stored.id)


def to_sentence(text: str) -> str:
    """Capitalise and end with a full stop, so a screen reader pauses where a reader would."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    if text[-1] not in ".!?":
        text += "."
    return text
