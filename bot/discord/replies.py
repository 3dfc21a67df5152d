"""How blipbot answers on Discord: the pictures a message offers, and the messages an answer becomes.

`InteractionReplies` follows Discord's rules for a deferred interaction (the first follow-up resolves
the "thinking" message and inherits its visibility, so a private answer first deletes it);
`MessageReplies` answers a mention with replies. Both split at 2000 characters and never ping anyone.
"""

from __future__ import annotations

import enum
import io
import logging
import mimetypes
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from bot.core import texts
from bot.core.chunks import split_text
from bot.core.types import VoiceNote

log = logging.getLogger(__name__)

MESSAGE_LIMIT_CHARS = 2000
NO_MENTIONS = discord.AllowedMentions.none()


# -- pictures ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImageSource:
    """One picture to describe: how to download it, or why it cannot be (`problem`, for the user)."""

    name: str
    download: Callable[[], Awaitable[bytes]]
    problem: str | None = None


def is_image(attachment: discord.Attachment) -> bool:
    content_type = attachment.content_type or mimetypes.guess_type(attachment.filename)[0] or ""
    return content_type.split(";")[0].strip().lower().startswith("image/")


def attachment_problem(attachment: discord.Attachment, max_bytes: int) -> str | None:
    """Why an attachment cannot be described, known before downloading it (None when it can be)."""
    if not is_image(attachment):
        return texts.NOT_AN_IMAGE
    if attachment.size > max_bytes:
        return texts.attachment_too_large(max_bytes)
    return None


def attachment_source(attachment: discord.Attachment, max_bytes: int) -> ImageSource:
    return ImageSource(attachment.filename, attachment.read, attachment_problem(attachment, max_bytes))


def message_sources(
    message: discord.Message, http_get: Callable[[str], Awaitable[bytes]], max_bytes: int
) -> list[ImageSource]:
    """The pictures of a message: image attachments, then image embeds (link previews).

    Embeds are downloaded from their `proxy_url`, Discord's media proxy, never from the URL a user
    typed, so a message cannot make the bot fetch an address of the user's choosing.
    """
    sources = [attachment_source(a, max_bytes) for a in message.attachments if is_image(a)]
    for embed in message.embeds:
        # An image link's preview carries the picture as its thumbnail; a bot's embed as its image.
        url = embed.image.proxy_url or (embed.thumbnail.proxy_url if embed.type == "image" else None)
        if url:
            sources.append(ImageSource(url, _capped(http_get, url, max_bytes)))
    return sources


def _capped(
    get: Callable[[str], Awaitable[bytes]], url: str, max_bytes: int
) -> Callable[[], Awaitable[bytes]]:
    async def download() -> bytes:
        data = await get(url)
        if len(data) > max_bytes:
            raise ImageTooLarge(texts.attachment_too_large(max_bytes))
        return data

    return download


class ImageTooLarge(Exception):
    """A downloaded picture turned out larger than allowed; the message is for the user."""


# -- answers ----------------------------------------------------------------------------


def voice_file(note: VoiceNote, index: int) -> discord.File:
    """A spoken reply as an audio attachment; its description (alt text) is the words it speaks."""
    return discord.File(
        io.BytesIO(note.ogg_opus), filename=f"answer-{index}.ogg", description=note.text[:1024]
    )


class _Original(enum.Enum):
    NONE = "not deferred"
    THINKING = "thinking"
    PRIVATE_THINKING = "thinking, seen by the user alone"
    POSITION = "showing the place in line"
    USED = "resolved by an answer"
    DELETED = "deleted"


class InteractionReplies:
    """The messages of one interaction, in the order Discord allows them."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self._original = _Original.NONE
        self._voice_notes = 0

    @property
    def deferred(self) -> bool:
        return self._original is not _Original.NONE

    async def defer(self, *, private: bool = False) -> None:
        """Acknowledge now (Discord's 3 seconds); the user sees "thinking" until the answer.

        Once is enough: a request that waited for its turn was acknowledged while it waited.
        `private` is for requests answered with `private` alone: only the user sees the thinking.
        """
        if self.deferred:
            return
        await self.interaction.response.defer(thinking=True, ephemeral=private)
        self._original = _Original.PRIVATE_THINKING if private else _Original.THINKING

    async def position(self, place: int) -> None:
        """Show the place in line in the thinking message, until an answer has been sent.

        A failed edit is logged here, token blanked, rather than raised: the answer still comes.
        """
        if self._original in (_Original.THINKING, _Original.POSITION):
            try:
                await self.interaction.edit_original_response(
                    content=texts.place_in_line(place), allowed_mentions=NO_MENTIONS
                )
            except discord.HTTPException as error:
                self._log_unsent("the place in line", error)
                return
            self._original = _Original.POSITION

    async def public(self, text: str) -> list[int]:
        """Send an answer for everyone in the channel; returns the ids of its messages."""
        if not self.interaction.response.is_done():
            await self.interaction.response.defer(thinking=True)
        sent: list[int] = []
        for chunk in split_text(text, MESSAGE_LIMIT_CHARS):
            message = await self.interaction.followup.send(chunk, wait=True, allowed_mentions=NO_MENTIONS)
            sent.append(message.id)
            if self._original is _Original.THINKING:
                # Discord turns the thinking message into this first follow-up; never edit it again.
                self._original = _Original.USED
        if self._original is _Original.POSITION:
            self._original = _Original.USED
        return sent

    async def voice_note(self, note: VoiceNote) -> int:
        self._voice_notes += 1
        message = await self.interaction.followup.send(
            file=voice_file(note, self._voice_notes), wait=True, allowed_mentions=NO_MENTIONS
        )
        return message.id

    async def private(self, text: str) -> None:
        """An error or a notice only the user sees."""
        chunks = split_text(text, MESSAGE_LIMIT_CHARS)
        if not self.interaction.response.is_done():
            await self.interaction.response.send_message(
                chunks[0], ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            chunks = chunks[1:]
        elif self._original is _Original.PRIVATE_THINKING:  # only the user sees it: it becomes the notice
            await self.interaction.edit_original_response(content=chunks[0], allowed_mentions=NO_MENTIONS)
            self._original = _Original.USED
            chunks = chunks[1:]
        elif self._original in (_Original.THINKING, _Original.POSITION):
            # A follow-up to a public thinking message would be public too: take that message away first.
            try:
                await self.interaction.delete_original_response()
            except discord.HTTPException as error:
                self._log_unsent("the deletion of the thinking message", error)
            self._original = _Original.DELETED
        for chunk in chunks:
            await self.interaction.followup.send(chunk, ephemeral=True, allowed_mentions=NO_MENTIONS)

    def _log_unsent(self, what: str, error: BaseException) -> None:
        # Interaction calls go to webhook URLs that contain the token: keep it out of the log.
        log.warning(
            "could not send %s: %s", what, without_secrets(describe_error(error), self.interaction.token)
        )


class MessageReplies:
    """Replies to a message that mentioned the bot; everything is public, as the question was."""

    def __init__(self, message: discord.Message) -> None:
        self.message = message
        self._voice_notes = 0

    async def position(self, place: int) -> None:
        await self._reply(texts.place_in_line(place))

    async def public(self, text: str) -> list[int]:
        return [await self._reply(chunk) for chunk in split_text(text, MESSAGE_LIMIT_CHARS)]

    async def voice_note(self, note: VoiceNote) -> int:
        self._voice_notes += 1
        file = voice_file(note, self._voice_notes)
        sent = await self.message.reply(file=file, mention_author=False, allowed_mentions=NO_MENTIONS)
        return sent.id

    async def private(self, text: str) -> None:
        await self.public(text)

    async def _reply(self, text: str) -> int:
        sent = await self.message.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)
        return sent.id


def without_secrets(text: str, *secrets: str) -> str:
    """`text` with every secret (an interaction's token, in webhook URLs) replaced by "[token]"."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[token]")
    return text


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def log_failure(what: str, error: BaseException, *secrets: str) -> None:
    """Log a failure with its traceback, with tokens (in webhook URLs of HTTP errors) blanked out."""
    report = "".join(traceback.format_exception(error)).rstrip()
    log.error("%s failed:\n%s", what, without_secrets(report, *secrets))
