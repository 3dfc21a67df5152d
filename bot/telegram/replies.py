"""Sending answers to Telegram: quoted plain text, split at 4096 characters, retried on network faults.

A `Responder` carries one request from "typing" to the answer: it refreshes the chat action while
the model works, shows the place in line when others are ahead and then edits that message into
the answer, sends the voice notes the person asked for, and links every message it sends to the
photo so a reply to it asks about that photo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.warnings import PTBDeprecationWarning

from bot.core import texts
from bot.core.chunks import split_text
from bot.core.service import ChatService
from bot.core.types import ChatRef, Reply, VoiceNote

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_MESSAGE_CHARS = MessageLimit.MAX_TEXT_LENGTH  # 4096
MAX_CAPTION_CHARS = MessageLimit.CAPTION_LENGTH  # 1024
TYPING_REFRESH_SECONDS = 4.0  # Telegram shows "typing" for 5 s or until the bot's next message
SEND_ATTEMPTS = 4
SEND_BACKOFF_SECONDS = 0.5  # doubled after each network failure


async def retrying(call: Callable[[], Awaitable[T]], *, attempts: int = SEND_ATTEMPTS) -> T:
    """Run one Bot API call, again after a network fault (with backoff) or a flood wait.

    A BadRequest is the request's own fault and is raised at once; PTB's AIORateLimiter has
    already retried RetryAfter by the time one arrives here, so this honours it a few more times.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except BadRequest:
            raise
        except RetryAfter as error:
            if attempt == attempts:
                raise
            await asyncio.sleep(retry_after_seconds(error))
        except (TimedOut, NetworkError) as error:
            if attempt == attempts:
                raise
            delay = SEND_BACKOFF_SECONDS * 2 ** (attempt - 1)
            log.info("telegram call failed (%s); retrying in %.1f s", type(error).__name__, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that the int form of retry_after will go
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def send_text(
    bot: Bot,
    chat_id: int,
    text: str,
    *,
    quote: int | None = None,
    thread_id: int | None = None,
    keyboard: InlineKeyboardMarkup | None = None,
) -> Message:
    """Send plain text (no parse_mode: model output is never markup), quoting `quote` if still there."""
    reply = ReplyParameters(quote, allow_sending_without_reply=True) if quote is not None else None
    return await retrying(
        lambda: bot.send_message(
            chat_id, text, reply_parameters=reply, message_thread_id=thread_id, reply_markup=keyboard
        )
    )


async def reply_to(bot: Bot, message: Message, text: str) -> Message:
    """Answer `message` with plain text, quoting it, in its topic if it has one."""
    thread_id = message.message_thread_id if message.is_topic_message else None
    return await send_text(bot, message.chat_id, text, quote=message.message_id, thread_id=thread_id)


def voice_caption(text: str) -> str | None:
    """A voice note's caption: its words, at most MAX_CAPTION_CHARS, cut at a word end (None if empty).

    Cut at the last word end that fits, not at a sentence end as `split_text` prefers: an answer
    without full stops would otherwise keep only its first clause ("I'm not sure,").
    """
    text = text.strip()
    if len(text) <= MAX_CAPTION_CHARS:
        return text or None
    cut = max(text.rfind(space, 0, MAX_CAPTION_CHARS + 1) for space in (" ", "\n"))
    return text[: cut if cut > 0 else MAX_CAPTION_CHARS].rstrip()


class Responder:
    """Everything the bot sends for one request; use as `async with Responder(...) as responder:`.

    `quote` is the message answers quote; an album moves it from photo to photo.
    """

    def __init__(
        self,
        bot: Bot,
        service: ChatService,
        chat: ChatRef,
        *,
        chat_id: int,
        quote: int | None,
        thread_id: int | None = None,
    ) -> None:
        self._bot = bot
        self._service = service
        self._chat = chat
        self._chat_id = chat_id
        self._thread_id = thread_id
        self.quote = quote
        self._place_in_line: Message | None = None
        self._typing: asyncio.Task[None] | None = None

    @classmethod
    def to_message(cls, bot: Bot, service: ChatService, chat: ChatRef, message: Message) -> Responder:
        """The responder for an update: answers quote `message`, in its topic if it has one."""
        thread_id = message.message_thread_id if message.is_topic_message else None
        return cls(bot, service, chat, chat_id=message.chat_id, quote=message.message_id, thread_id=thread_id)

    async def __aenter__(self) -> Responder:
        self._typing = asyncio.create_task(self._keep_typing(), name=f"telegram-typing-{self._chat_id}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop_typing()

    async def on_queued(self, position: int) -> None:
        """The core's callback when others are ahead: say so now, edit it into the answer later."""
        text = texts.place_in_line(position)
        self._place_in_line = await send_text(
            self._bot, self._chat_id, text, quote=self.quote, thread_id=self._thread_id
        )

    async def deliver(
        self, reply: Reply, *, numbered: tuple[int, int] | None = None, last: bool = True
    ) -> None:
        """Send the reply (the first part replaces a place-in-line message) and link it to its photo.

        `numbered` is (index, total) within an album; `last=False` keeps "typing" up for the rest.
        """
        if last:
            await self._stop_typing()
        text = texts.numbered(*numbered, reply.text) if numbered else reply.text
        sent: list[Message] = []
        for index, piece in enumerate(split_text(text, MAX_MESSAGE_CHARS) or [texts.FAILED]):
            edited = await self._edit_place_in_line(piece) if index == 0 else None
            if edited is not None:
                sent.append(edited)
                continue
            quote = self.quote if index == 0 else None
            sent.append(
                await send_text(self._bot, self._chat_id, piece, quote=quote, thread_id=self._thread_id)
            )
        sent += await self._send_voice_notes(reply.voice)
        if reply.image_id is not None:
            for message in sent:
                await self._service.link_reply(self._chat, str(message.message_id), reply.image_id)

    async def _send_voice_notes(self, notes: tuple[VoiceNote, ...]) -> list[Message]:
        """The answer spoken, after its text; a failed note is logged, the text is already there.

        Each note carries the words it speaks as its caption (plain text, cut at a word end to
        Telegram's caption limit), so the note still makes sense when forwarded on its own.
        """
        sent: list[Message] = []
        for note in notes:
            caption = voice_caption(note.text)
            try:
                sent.append(
                    await retrying(
                        lambda note=note, caption=caption: self._bot.send_voice(
                            self._chat_id, note.ogg_opus, caption=caption, message_thread_id=self._thread_id
                        )
                    )
                )
            except TelegramError as error:
                log.warning("voice note to chat %s failed (%s)", self._chat_id, type(error).__name__)
                break
        return sent

    async def say(self, text: str) -> None:
        """A message of the bot's own (an error, a refusal), quoting the current message."""
        await self._stop_typing()
        await send_text(self._bot, self._chat_id, text, quote=self.quote, thread_id=self._thread_id)

    async def _edit_place_in_line(self, text: str) -> Message | None:
        placeholder, self._place_in_line = self._place_in_line, None
        if placeholder is None:
            return None
        try:
            edited = await retrying(
                lambda: self._bot.edit_message_text(
                    text, chat_id=self._chat_id, message_id=placeholder.message_id
                )
            )
        except TelegramError as error:  # deleted meanwhile, or too old to edit: send it instead
            log.info("could not edit the place-in-line message (%s); sending anew", type(error).__name__)
            return None
        return edited if isinstance(edited, Message) else None

    async def _keep_typing(self) -> None:
        while True:
            try:
                await self._bot.send_chat_action(
                    self._chat_id, ChatAction.TYPING, message_thread_id=self._thread_id
                )
            except TelegramError as error:  # cosmetic: never worth failing or retrying the answer for
                log.debug("typing action failed in chat %s: %s", self._chat_id, type(error).__name__)
            await asyncio.sleep(TYPING_REFRESH_SECONDS)

    async def _stop_typing(self) -> None:
        task, self._typing = self._typing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
