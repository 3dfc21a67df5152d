"""Forgetting: /reset, /forget, /privacy, and the retention purge that deletes old data by itself.

/forget reaches past the store: the model's in-memory caches of the chat's photos (image
features, key/value prefixes) are dropped through the queue too, wherever the model runs.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from bot.core import texts
from bot.core.context import CoreContext
from bot.core.failures import replies_on_failure
from bot.core.types import ChatRef, Reply, ReplyKind

log = logging.getLogger(__name__)


class PrivacyFlow:
    """What is kept, and deleting it: on request, and after `storage.retention_days`."""

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    @replies_on_failure
    async def reset(self, chat: ChatRef) -> Reply:
        """Put the current photo aside; its history stays until /forget or the retention purge."""
        chat_id = await self.ctx.store.chat_id(chat.platform, chat.chat_id)
        await self.ctx.store.reset(chat_id)
        return Reply(texts.RESET_DONE, ReplyKind.INFO)

    @replies_on_failure
    async def forget(self, chat: ChatRef) -> Reply:
        """Delete the chat's photos, turns and links, and this user's settings."""
        chat_id = await self.ctx.store.chat_id(chat.platform, chat.chat_id)
        image_keys = await self.ctx.store.image_hashes(chat_id)
        await self.ctx.store.forget(chat_id, user_id=chat.user_id)
        if self.ctx.ledger is not None:  # the questions waiting in the networked queue's memory too
            await self.ctx.ledger.forget_chat(chat.platform, chat.chat_id)
        self.ctx.queue.forget(image_keys)  # the model's in-memory caches of those photos too
        log.info("forgot chat platform=%s chat=%s", chat.platform, chat.chat_id)
        return Reply(texts.FORGET_DONE, ReplyKind.INFO)

    def privacy(self) -> Reply:
        return Reply(texts.PRIVACY.format(days=self.ctx.options.retention_days), ReplyKind.INFO)

    async def purge_expired(self, now: datetime | None = None) -> int:
        """Delete photos, turns, predictions and files past the retention period; returns rows deleted."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.ctx.options.retention_days)
        expired = await self.ctx.store.hashes_older_than(cutoff)
        deleted = await self.ctx.store.purge_older_than(cutoff)
        self.ctx.queue.forget(expired)  # their cached features go too, on every worker
        if self.ctx.ledger is not None:
            deleted += await self.ctx.ledger.purge_older_than(cutoff)
        # The HTTP API's predictions and uploaded files are kept no longer than the chats' photos.
        deleted += await self.ctx.store.predictions.purge_older_than(cutoff)
        deleted += await self.ctx.store.files.purge_older_than(cutoff)
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
