"""Photos in, photos found: a new upload checked and stored, or the photo a command is about.

Both end in a `ChatPhoto` (the chat's row, the stored photo, the decoded picture) or in the
`Reply` that says why there is none, so every flow starts from the same three facts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.core import texts
from bot.core.context import CoreContext
from bot.core.images import ImageError, PreparedImage, prepare_image
from bot.core.types import ChatRef, Reply, ReplyKind
from storage import StoredImage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChatPhoto:
    """A photo of a chat, ready for the model: the store's ids and the decoded, checked picture."""

    chat_id: int
    stored: StoredImage
    prepared: PreparedImage
    message_id: str | None = None  # the platform message that brought it, for a reply sent later


def prepare(ctx: CoreContext, data: bytes) -> PreparedImage:
    """Decode and check a picture against the configured limits (blocking: run it in a thread)."""
    return prepare_image(data, max_bytes=ctx.options.max_image_bytes, max_pixels=ctx.options.max_image_pixels)


async def accept_photo(
    ctx: CoreContext, chat: ChatRef, data: bytes, message_id: str | None
) -> ChatPhoto | Reply:
    """Rate-limit, validate and store an uploaded photo as the chat's current one."""
    rate_key = (chat.platform, chat.user_id)
    if not ctx.rate_limiter.allow(rate_key):
        return Reply(texts.rate_limited(ctx.rate_limiter.retry_after_s(rate_key)), ReplyKind.ERROR)
    try:
        prepared = await asyncio.to_thread(prepare, ctx, data)
    except ImageError as error:
        return Reply(str(error), ReplyKind.ERROR)
    chat_id = await ctx.store.chat_id(chat.platform, chat.chat_id)
    stored = await ctx.store.add_image(chat_id, data, prepared.mime, prepared.width, prepared.height)
    if message_id is not None:
        await ctx.store.link_message(chat_id, message_id, stored.id)
    return ChatPhoto(chat_id, stored, prepared, message_id)


async def current_photo(ctx: CoreContext, chat: ChatRef, about_message_id: str | None) -> ChatPhoto | Reply:
    """The photo a command is about (a replied-to one becomes current), decoded; or a Reply why not."""
    chat_id = await ctx.store.chat_id(chat.platform, chat.chat_id)
    stored = None
    if about_message_id is not None:
        stored = await ctx.store.image_for_message(chat_id, about_message_id)
        if stored is not None:
            await ctx.store.set_active_image(chat_id, stored.id)
    stored = stored or await ctx.store.active_image(chat_id)
    if stored is None:
        return Reply(texts.NEED_PHOTO, ReplyKind.INFO)
    try:
        prepared = await asyncio.to_thread(prepare, ctx, stored.data)
    except ImageError:
        log.error("stored image %d could not be decoded again", stored.id)
        return Reply(texts.FAILED, ReplyKind.ERROR)
    return ChatPhoto(chat_id, stored, prepared)
