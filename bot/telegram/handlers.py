"""What the Telegram bot does with each message, command and button press, on top of the core.

Each callback turns an update into `ChatRef`s and bytes, calls one `ChatService` method and hands
the `Reply` to a `Responder`. In groups the bot speaks only when addressed: a command, an
@mention, or a reply to its own message or to a photo it knows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Bot, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.core import texts
from bot.core.service import ChatService
from bot.core.types import ChatRef, Reply, ReplyKind, Upload
from bot.telegram.album import AlbumCollector
from bot.telegram.config import TelegramConfig
from bot.telegram.messages import (
    ImageFile,
    image_file,
    is_private,
    mentions_bot,
    message_chat_ref,
    question_text,
    update_message,
)
from bot.telegram.replies import Responder, reply_to, retrying

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE


class DownloadRefused(Exception):
    """The image could not be fetched; `text` tells the user why."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class TelegramHandlers:
    """The callbacks `bot.telegram` registers; they share the service, the config and the albums."""

    def __init__(self, service: ChatService, config: TelegramConfig) -> None:
        self.service = service
        self.config = config
        self.albums = AlbumCollector(config.album_wait_s)

    # -- photos and questions --------------------------------------------------------------------

    async def on_attachment(self, update: Update, context: Context) -> None:
        """A photo or a document: describe it, with its caption as the first question."""
        message = update_message(update)
        bot = context.bot
        if message.media_group_id is not None:
            album = await self.albums.collect(message)
            if album is not None:  # None: this photo joined an album another handler is collecting
                await self._describe_album(bot, album)
            return
        if not await self._addressed(bot, message):
            return
        if image_file(message) is None:
            await reply_to(bot, message, texts.NOT_AN_IMAGE)
            return
        chat = message_chat_ref(message)
        async with Responder.to_message(bot, self.service, chat, message) as responder:
            question = question_text(message, bot.username)
            await responder.deliver(await self._describe(chat, message, question, responder))

    async def on_text(self, update: Update, context: Context) -> None:
        """A question: about the photo it replies to, else about the chat's current photo."""
        message = update_message(update)
        bot = context.bot
        if not await self._addressed(bot, message):
            return
        chat = message_chat_ref(message)
        question = question_text(message, bot.username)
        replied = message.reply_to_message
        async with Responder.to_message(bot, self.service, chat, message) as responder:
            if replied is not None and await self._is_unseen_photo(chat, replied):
                # A photo sent before the bot was there (or in a group, unaddressed): look at it now.
                reply = await self._describe(chat, replied, question, responder)
            else:
                about = str(replied.message_id) if replied is not None else None
                reply = await self.service.ask(
                    chat, question, about_message_id=about, on_queued=responder.on_queued
                )
            await responder.deliver(reply)

    async def on_other_media(self, update: Update, context: Context) -> None:
        """A video, sticker, voice message...: only pictures can be looked at."""
        await reply_to(context.bot, update_message(update), texts.NOT_AN_IMAGE)

    # -- commands ------------------------------------------------------------------------------

    async def on_help(self, update: Update, context: Context) -> None:
        await self._answer(update, context, self.service.help().text)

    async def on_privacy(self, update: Update, context: Context) -> None:
        await self._answer(update, context, self.service.privacy().text)

    async def on_reset(self, update: Update, context: Context) -> None:
        reply = await self.service.reset(message_chat_ref(update_message(update)))
        await self._answer(update, context, reply.text)

    async def on_unknown_command(self, update: Update, context: Context) -> None:
        await self._answer(update, context, texts.UNKNOWN_COMMAND)

    async def on_describe(self, update: Update, context: Context) -> None:
        message = update_message(update)
        chat = message_chat_ref(message)
        async with Responder.to_message(context.bot, self.service, chat, message) as responder:
            await responder.deliver(await self.service.describe_again(chat, on_queued=responder.on_queued))

    async def on_read(self, update: Update, context: Context) -> None:
        """/read: the text in the current photo (or the one replied to), by OCR."""
        message = update_message(update)
        chat = message_chat_ref(message)
        async with Responder.to_message(context.bot, self.service, chat, message) as responder:
            await responder.deliver(await self.service.read_text(chat, about_message_id=_replied_id(message)))

    def on_check(self, name: str) -> Callable[[Update, Context], Awaitable[None]]:
        """/scan, /light, /colour: one quick check, answered like /read (a replied-to photo first)."""
        checks = {"scan": self.service.scan, "light": self.service.light, "colour": self.service.colour}
        check = checks[name]

        async def run_check(update: Update, context: Context) -> None:
            message = update_message(update)
            chat = message_chat_ref(message)
            async with Responder.to_message(context.bot, self.service, chat, message) as responder:
                await responder.deliver(await check(chat, about_message_id=_replied_id(message)))

        return run_check

    async def on_alt(self, update: Update, context: Context) -> None:
        """/alt: alt text for the current photo; /alt N sets its length instead."""
        message = update_message(update)
        chat = message_chat_ref(message)
        if context.args:
            reply = await self.service.set_preference(chat, "alt_text_chars", context.args[0])
            await reply_to(context.bot, message, reply.text)
            return
        async with Responder.to_message(context.bot, self.service, chat, message) as responder:
            reply = await self.service.alt_text(
                chat, about_message_id=_replied_id(message), on_queued=responder.on_queued
            )
            await responder.deliver(reply)

    def on_setting(self, name: str) -> Callable[[Update, Context], Awaitable[None]]:
        """/detail, /voice, /codes, /lighthints, /language: store the choice (the core checks the value)."""

        async def set_preference(update: Update, context: Context) -> None:
            message = update_message(update)
            value = " ".join(context.args or [])
            reply = await self.service.set_preference(message_chat_ref(message), name, value)
            await reply_to(context.bot, message, reply.text)

        return set_preference

    async def on_settings(self, update: Update, context: Context) -> None:
        reply = await self.service.show_settings(message_chat_ref(update_message(update)))
        await self._answer(update, context, reply.text)

    # -- steps ---------------------------------------------------------------------------------

    async def _addressed(self, bot: Bot, message: Message) -> bool:
        """Private chats always; groups only on a mention or a reply to the bot or a photo it knows."""
        if is_private(message) or mentions_bot(message, bot.username, bot.id):
            return True
        replied = message.reply_to_message
        if replied is None:
            return False
        if replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        return await self.service.has_photo_for(message_chat_ref(message), str(replied.message_id))

    async def _is_unseen_photo(self, chat: ChatRef, message: Message) -> bool:
        if image_file(message) is None:
            return False
        return not await self.service.has_photo_for(chat, str(message.message_id))

    async def _describe_album(self, bot: Bot, messages: list[Message]) -> None:
        """Each photo once, the album's caption as the question for all, answers in order."""
        addressed = False
        for message in messages:
            addressed = addressed or await self._addressed(bot, message)
        if not addressed:
            return
        first, total = messages[0], len(messages)
        chat = message_chat_ref(first)
        question = next((q for m in messages if (q := question_text(m, bot.username))), "")
        async with Responder.to_message(bot, self.service, chat, first) as responder:
            replies: dict[int, Reply] = {}
            uploads: dict[int, Upload] = {}
            for index, message in enumerate(messages):
                upload = await self._upload(message)
                if isinstance(upload, Reply):
                    replies[index] = upload
                else:
                    uploads[index] = upload
            # All photos at once, so the worker answers them in shared batches.
            answers = await self.service.describe_photos(
                chat, list(uploads.values()), question=question, on_queued=responder.on_queued
            )
            replies.update(zip(uploads, answers, strict=True))
            for index, message in enumerate(messages, start=1):
                responder.quote = message.message_id
                numbered = (index, total) if total > 1 else None
                await responder.deliver(replies[index - 1], numbered=numbered, last=index == total)

    async def _upload(self, message: Message) -> Upload | Reply:
        """The message's picture, downloaded; or the Reply saying why it cannot be looked at."""
        image = image_file(message)
        if image is None:
            return Reply(texts.NOT_AN_IMAGE, ReplyKind.ERROR)
        try:
            data = await self._download(image)
        except DownloadRefused as refusal:
            return Reply(refusal.text, ReplyKind.ERROR)
        return Upload(data, str(message.message_id))

    async def _describe(self, chat: ChatRef, message: Message, question: str, responder: Responder) -> Reply:
        upload = await self._upload(message)
        if isinstance(upload, Reply):
            return upload
        return await self.service.describe_photo(
            chat,
            upload.data,
            question=question,
            message_id=upload.message_id,
            on_queued=responder.on_queued,
        )

    async def _download(self, image: ImageFile) -> bytes:
        """The file's bytes; refuses files over telegram.max_download_bytes without fetching them."""
        limit = self.config.max_download_bytes
        too_big = DownloadRefused(texts.attachment_too_large(limit))
        if image.file_size is not None and image.file_size > limit:
            raise too_big
        try:
            file = await retrying(image.get_file)
            if file.file_size is not None and file.file_size > limit:
                raise too_big
            data = await retrying(file.download_as_bytearray)
        except BadRequest as error:
            if "too big" in error.message.lower():  # the cloud Bot API's 20 MB getFile limit
                raise too_big from None
            log.warning("download refused: %s", type(error).__name__)
            raise DownloadRefused(texts.DOWNLOAD_FAILED) from None
        except TelegramError as error:
            log.warning("download failed: %s", type(error).__name__)
            raise DownloadRefused(texts.DOWNLOAD_FAILED) from None
        return bytes(data)

    async def _answer(self, update: Update, context: Context, text: str) -> None:
        await reply_to(context.bot, update_message(update), text)


def _replied_id(message: Message) -> str | None:
    return str(message.reply_to_message.message_id) if message.reply_to_message is not None else None
