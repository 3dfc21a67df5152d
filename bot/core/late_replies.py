"""Replies owed by a front end that died: finished from the ledger and sent by a live one, once.

With the networked queue each reply waiting for the model is noted in the store as data (its
kind, its parameters, the jobs it waits for). When its front end stops beating (killed, crashed,
deployed), a live front end takes each such reply over once all its jobs are answered, words it
exactly as the live path would, and sends it through the platform's `deliver_late`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from bot.core import texts
from bot.core.answering import AnswerFlow
from bot.core.checking import start_checks
from bot.core.context import CoreContext
from bot.core.describing import DescribeFlow
from bot.core.images import ImageError
from bot.core.photos import ChatPhoto, prepare
from bot.core.settings import SettingsFlow
from bot.core.speech import with_voice
from bot.core.types import ChatRef, Reply, ReplyKind
from inference.streams import decode_result
from inference.types import GenerationResult
from storage import OwedReply, ReplyLedger

log = logging.getLogger(__name__)

#: Sends a reply to a chat outside any handler; `reply_to` is the message it answers, if known.
DeliverLate = Callable[[ChatRef, Reply, str | None], Awaitable[None]]
#: Whether a front end (by id) is still running.
IsAlive = Callable[[str], Awaitable[bool]]
#: A reply younger than this belongs to a front end that may simply not have beaten yet.
GRACE_S = 2.0


class LateReplyFlow:
    """Looks for owed replies of dead front ends and sends them, each exactly once."""

    def __init__(
        self,
        ctx: CoreContext,
        ledger: ReplyLedger,
        settings: SettingsFlow,
        describing: DescribeFlow,
        answering: AnswerFlow,
        *,
        is_alive: IsAlive,
    ) -> None:
        self.ctx = ctx
        self.ledger = ledger
        self.settings = settings
        self.describing = describing
        self.answering = answering
        self.is_alive = is_alive

    async def run(self, deliverers: Mapping[str, DeliverLate], interval_s: float = 1.0) -> None:
        """Send what is owed every `interval_s`, until cancelled; a failing round is tried again."""
        while True:
            try:
                await self.send_owed(deliverers)
            except Exception as error:
                log.warning("could not send owed replies (%s); trying again", type(error).__name__)
            await asyncio.sleep(interval_s)

    async def send_owed(self, deliverers: Mapping[str, DeliverLate], *, grace_s: float = GRACE_S) -> int:
        """One round: every owed reply whose front end is gone and whose jobs are all answered."""
        if not deliverers:
            return 0
        cutoff = datetime.now(UTC) - timedelta(seconds=grace_s)
        sent = 0
        for owed in await self.ledger.owed(older_than=cutoff, platforms=list(deliverers)):
            if owed.frontend == self.ctx.frontend_id or await self.is_alive(owed.frontend):
                continue
            payloads = await self.ledger.results(owed.job_ids)
            if len(payloads) < len(owed.job_ids):
                continue  # still being answered; the next round looks again
            if not await self.ledger.take_over(owed.id, owed.frontend, self.ctx.frontend_id):
                continue  # another front end took it first
            chat = ChatRef(owed.platform, owed.chat_external_id, owed.user_id)
            reply = await self.finish(owed, chat, [payloads[job_id] for job_id in owed.job_ids])
            if reply is not None:
                await deliverers[owed.platform](chat, reply, owed.reply_to)
                log.info("sent a late reply platform=%s chat=%s", chat.platform, chat.chat_id)
                sent += 1
            await self.ledger.delivered(owed.id)
        return sent

    async def finish(self, owed: OwedReply, chat: ChatRef, payloads: list[str]) -> Reply | None:
        """The reply the live path would have given; None when its photo was deleted meanwhile."""
        chat_id = await self.ctx.store.chat_id(chat.platform, chat.chat_id)
        stored = await self.ctx.store.image(chat_id, owed.image_id)
        if stored is None:
            return None
        try:
            prepared = await asyncio.to_thread(prepare, self.ctx, stored.data)
        except ImageError:
            return None
        photo = ChatPhoto(chat_id, stored, prepared, owed.reply_to)
        outcomes = [decode_result(payload) for payload in payloads]
        results = [outcome for outcome in outcomes if isinstance(outcome, GenerationResult)]
        if len(results) < len(outcomes):  # a job failed or was dead-lettered: the person is told
            return Reply(texts.FAILED, ReplyKind.ERROR, image_id=stored.id)
        prefs = await self.settings.preferences(chat)
        started = time.perf_counter()
        params = owed.params
        if owed.kind == "answer":
            reply = await self.answering.finish(photo, str(params["question"]), results, started)
        elif owed.kind == "alt":
            reply = await self.describing.finish_alt(photo, int(params["chars"]), results, started)
        elif owed.kind == "describe":
            detail = params["detail"]
            ocr = None
            if detail == "full":
                ocr = self.describing.reading.ocr(prepared.image, str(params.get("ocr_language", "eng")))
            keys = [str(key) for key in params["keys"]]
            checks = start_checks(photo, prefs)
            reply = await self.describing.finish_description(
                photo, detail, keys, results, started, ocr, checks
            )
        else:
            log.error("owed reply %s has an unknown kind %r", owed.id, owed.kind)
            return None
        return await with_voice(self.ctx.speaker, reply, prefs.voice)
