"""Messages that address the bot (discord.message_content on): a mention, a DM, or a reply to its answer.

Off by default, since reading messages needs Discord's privileged Message Content intent. A
message's pictures are described (its text as their question); text alone is a follow-up.
"""

from __future__ import annotations

import contextlib
import logging

import discord

from bot.core import texts
from bot.core.service import ChatService
from bot.core.types import ChatRef
from bot.discord.answers import DiscordAnswers
from bot.discord.commands import chat_ref
from bot.discord.inflight import InFlight
from bot.discord.replies import MessageReplies, attachment_source, is_image, log_failure

log = logging.getLogger(__name__)


class MentionHandler:
    """Answers the messages that address the bot, through the same steps as the slash commands."""

    def __init__(
        self, service: ChatService, answers: DiscordAnswers, inflight: InFlight, *, max_attachment_bytes: int
    ) -> None:
        self.service = service
        self.answers = answers
        self.inflight = inflight
        self.max_attachment_bytes = max_attachment_bytes

    async def on_message(self, message: discord.Message, me: discord.ClientUser | None) -> None:
        """Answer a message that mentions the bot, is a DM, or replies to one of its answers.

        What can be decided without waiting is decided first; then the message takes its place in
        its conversation's line (`InFlight.turn`) before anything awaits, so a question sent right
        after its picture is answered after it, about it.
        """
        if me is None or message.author.bot or self.inflight.closing:
            return
        chat = chat_ref(message.channel.id, message.author.id)
        reference = message.reference.message_id if message.reference else None
        addressed = message.guild is None or any(user.id == me.id for user in message.mentions)
        if not addressed and reference is None:
            return
        async with self.inflight.turn(chat.chat_id):
            if not addressed and not await self.service.has_photo_for(chat, str(reference)):
                return  # a reply, but not to a picture of this conversation
            question = message.content.replace(f"<@{me.id}>", "").replace(f"<@!{me.id}>", "").strip()
            replies = MessageReplies(message)
            try:
                if self.inflight.closing:  # it waited its turn while the adapter began to stop
                    await replies.private(texts.STOPPING)
                    return
                async with message.channel.typing():
                    await self._answer_message(chat, replies, message, question, reference)
            except Exception as error:
                log_failure("answering a mention", error)
                with contextlib.suppress(discord.HTTPException):
                    await replies.private(texts.FAILED)

    async def _answer_message(
        self,
        chat: ChatRef,
        replies: MessageReplies,
        message: discord.Message,
        question: str,
        reference: int | None,
    ) -> None:
        sources = [
            attachment_source(a, self.max_attachment_bytes) for a in message.attachments if is_image(a)
        ]
        if sources:
            await self.answers.describe_all(
                chat, replies, sources, message_id=str(message.id), question=question
            )
        elif message.attachments and not question:
            await replies.private(texts.NOT_AN_IMAGE)
        else:
            about = str(reference) if reference is not None else None
            work = self.service.ask(chat, question, about_message_id=about, on_queued=replies.position)
            await self.answers.deliver(chat, replies, await self.answers.bounded(work))
