"""Turning a Discord request into the core's reply and sending it: shared by commands and mentions.

Downloads are bounded by the attachment limit, every answer by a timeout a little over the
model's, and every answer message is linked to its picture so a reply to it asks about that one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

import aiohttp
import discord

from bot.core import texts
from bot.core.preferences import Detail
from bot.core.service import ChatService
from bot.core.types import ChatRef, Reply, ReplyKind, Upload
from bot.discord.replies import ImageSource, ImageTooLarge, InteractionReplies, MessageReplies

log = logging.getLogger(__name__)

Replies = InteractionReplies | MessageReplies


class DiscordAnswers:
    """The steps every Discord handler shares: download, ask the core, bound the wait, deliver."""

    def __init__(self, service: ChatService, *, answer_timeout_s: float) -> None:
        self.service = service
        self.answer_timeout_s = answer_timeout_s

    async def describe_all(
        self,
        chat: ChatRef,
        replies: Replies,
        sources: list[ImageSource],
        *,
        message_id: str,
        question: str = "",
    ) -> None:
        if len(sources) == 1:
            work = self.describe(chat, sources[0], replies, question=question, message_id=message_id)
            await self.deliver(chat, replies, await self.bounded(work))
            return
        answers: dict[int, Reply] = {}
        uploads: dict[int, Upload] = {}
        for index, source in enumerate(sources):
            data = await self.download(source)
            if isinstance(data, Reply):
                answers[index] = data
            else:
                uploads[index] = Upload(data, message_id)
        # All pictures at once, so the worker answers them in shared batches.
        work = self.service.describe_photos(
            chat, list(uploads.values()), question=question or None, on_queued=replies.position
        )
        try:
            answers.update(zip(uploads, await asyncio.wait_for(work, self.answer_timeout_s), strict=True))
        except TimeoutError:
            answers.update(dict.fromkeys(uploads, Reply(texts.TIMEOUT, ReplyKind.ERROR)))
        for index in range(len(sources)):
            reply = answers[index]
            text = texts.numbered(index + 1, len(sources), reply.text, noun="Image")
            await self.deliver(chat, replies, reply, text)

    async def describe(
        self,
        chat: ChatRef,
        source: ImageSource,
        replies: Replies,
        *,
        question: str = "",
        detail: Detail | None = None,
        message_id: str | None = None,
    ) -> Reply:
        """Download a picture and hand it to the core; `detail` None means the person's own setting."""
        data = await self.download(source)
        if isinstance(data, Reply):
            return data
        return await self.service.describe_photo(
            chat,
            data,
            question=question or None,
            message_id=message_id,
            on_queued=replies.position,
            detail=detail,
        )

    @staticmethod
    async def download(source: ImageSource) -> bytes | Reply:
        """The picture's bytes, or the Reply that says why they could not be had."""
        if source.problem is not None:
            return Reply(source.problem, ReplyKind.ERROR)
        try:
            return await source.download()
        except ImageTooLarge as error:
            return Reply(str(error), ReplyKind.ERROR)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as error:
            log.warning("could not download %s: %s", source.name, type(error).__name__)
            return Reply(texts.DOWNLOAD_FAILED, ReplyKind.ERROR)

    async def keep_as_current(self, chat: ChatRef, source: ImageSource) -> Reply | None:
        """Download the picture and keep it as the conversation's current photo, without describing it
        (/alt and the quick checks answer about it themselves); the Reply that says why not, or None.
        """
        data = await self.download(source)
        if isinstance(data, Reply):
            return data
        return await self.service.add_photo(chat, data)

    async def bounded(self, work: Awaitable[Reply]) -> Reply:
        """The reply, or an apology once the answer timeout (a little over the model's) has passed."""
        try:
            return await asyncio.wait_for(work, self.answer_timeout_s)
        except TimeoutError:
            return Reply(texts.TIMEOUT, ReplyKind.ERROR)

    async def deliver(self, chat: ChatRef, replies: Replies, reply: Reply, text: str | None = None) -> None:
        text = reply.text if text is None else text
        if reply.kind is not ReplyKind.ANSWER:
            await replies.private(text)
            return
        sent = await replies.public(text)
        for note in reply.voice:
            sent.append(await replies.voice_note(note))
        if reply.image_id is not None:
            for message_id in sent:  # a reply to any of these asks about the same picture
                await self.service.link_reply(chat, str(message_id), reply.image_id)
