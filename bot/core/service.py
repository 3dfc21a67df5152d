"""The platform-neutral core: a photo, a question or a command in; the reply out.

Adapters translate platform objects into `ChatRef`s and bytes and call one method per user
action. `ChatService` holds the flows that do the work (describing, answering, reading,
quick checks, settings, privacy), each a small class over one `CoreContext`; its methods are theirs. Whatever
goes wrong becomes a short `Reply` the user can act on: nothing a user sends can raise out of here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PIL import Image

from bot.core import texts
from bot.core.answering import AnswerFlow
from bot.core.checking import CheckFlow
from bot.core.context import CoreContext
from bot.core.describing import DescribeFlow
from bot.core.late_replies import IsAlive, LateReplyFlow
from bot.core.options import ServiceOptions
from bot.core.predicting import PredictionFlow
from bot.core.privacy import PrivacyFlow
from bot.core.ratelimit import RateLimiter
from bot.core.reading import ReadFlow
from bot.core.settings import SettingsFlow
from bot.core.speech import Speaker
from bot.core.types import ChatRef, Reply, ReplyKind
from inference.ocr import OcrResult, installed_languages, read_text
from inference.queue import InferenceQueue
from storage import Exchange, ReplyLedger, Store

log = logging.getLogger(__name__)


class ChatService:
    """One instance serves every adapter; it holds no per-chat state of its own but the rate limits."""

    def __init__(
        self,
        store: Store,
        queue: InferenceQueue,
        options: ServiceOptions,
        *,
        speaker: Speaker | None = None,
        ocr: Callable[[Image.Image, str], OcrResult] = read_text,
        ocr_languages: Callable[[], list[str]] = installed_languages,
        ledger: ReplyLedger | None = None,
        frontend_id: str = "local",
        is_alive: IsAlive | None = None,
    ) -> None:
        """`ledger`, `frontend_id` and `is_alive` come with the networked queue (else None)."""
        self.ctx = CoreContext(
            store=store,
            queue=queue,
            options=options,
            speaker=speaker or Speaker(),
            ocr=ocr,
            ocr_languages=ocr_languages,
            rate_limiter=RateLimiter(options.photos_per_minute, 60.0),
            ledger=ledger,
            frontend_id=frontend_id,
        )
        self.settings = SettingsFlow(self.ctx)
        self.reading = ReadFlow(self.ctx, self.settings)
        self.checking = CheckFlow(self.ctx, self.settings)
        self.answering = AnswerFlow(self.ctx, self.settings, self.reading, self.checking)
        self.describing = DescribeFlow(self.ctx, self.settings, self.reading, self.answering)
        self.privacy_flow = PrivacyFlow(self.ctx)
        #: One-shot predictions for the HTTP API (the hosted BLIP-2's inputs, one string out).
        self.predicting = PredictionFlow(self.ctx, self.describing, self.reading)
        #: Sends the replies a dead front end owed (networked queue only).
        self.late_replies = (
            LateReplyFlow(self.ctx, ledger, self.settings, self.describing, self.answering, is_alive=is_alive)
            if ledger is not None and is_alive is not None
            else None
        )

        # The user actions, one per adapter call; each is its flow's own method.
        self.describe_photo = self.describing.describe_photo
        self.describe_photos = self.describing.describe_photos
        self.add_photo = self.describing.add_photo
        self.describe_again = self.describing.describe_again
        self.alt_text = self.describing.alt_text
        self.ask = self.answering.ask
        self.read_text = self.reading.read_text
        self.scan = self.checking.scan
        self.light = self.checking.light
        self.colour = self.checking.colour
        self.preferences = self.settings.preferences
        self.show_settings = self.settings.show_settings
        self.set_preference = self.settings.set_preference
        self.ocr_language_list = self.settings.ocr_language_list
        self.reset = self.privacy_flow.reset
        self.forget = self.privacy_flow.forget
        self.privacy = self.privacy_flow.privacy
        self.purge_expired = self.privacy_flow.purge_expired
        self.run_retention = self.privacy_flow.run_retention

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def options(self) -> ServiceOptions:
        return self.ctx.options

    def help(self) -> Reply:
        return Reply(texts.HELP, ReplyKind.INFO)

    async def link_reply(self, chat: ChatRef, message_id: str, image_id: int) -> None:
        """Remember that the bot's message `message_id` is about `image_id` (for replies to it).

        Called after the answer is sent, so it never raises: a failure here must not make the
        front end apologise for an answer the person already has (a second reply). A link not
        kept only means a later reply to that message asks about the current photo instead.
        """
        try:
            chat_id = await self.ctx.store.chat_id(chat.platform, chat.chat_id)
            await self.ctx.store.link_message(chat_id, message_id, image_id)
        except Exception as error:
            log.warning("could not link message %s to its photo (%s)", message_id, type(error).__name__)

    async def conversation(self, chat: ChatRef) -> list[Exchange]:
        """What was said about the chat's current photo, oldest first (a description's question is "")."""
        chat_id = await self.ctx.store.chat_id(chat.platform, chat.chat_id)
        photo = await self.ctx.store.active_image(chat_id)
        return [] if photo is None else await self.ctx.store.conversation(chat_id, photo.id)

    async def has_photo_for(self, chat: ChatRef, message_id: str) -> bool:
        """Whether `message_id` in this chat is a photo (or an answer about one) the bot knows."""
        chat_id = await self.ctx.store.chat_id(chat.platform, chat.chat_id)
        return await self.ctx.store.image_for_message(chat_id, message_id) is not None
