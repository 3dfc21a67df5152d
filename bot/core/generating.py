"""Asking the model: the core's one way to hand requests to the inference queue and await them.

A flow first makes a `ModelPlan` (the requests for one photo, and how their results become the
reply); `carry_out` submits the requests of several plans together, so an album's photos share
batches, tells the place in line once, and finishes each plan with its own results, or with the
reason it got none (busy, timed out, failed), so one photo's failure is only its own. With the
networked queue each plan is also noted in the ledger as data (its `kind` and `params`), so
another front end can finish and send it if this one dies before the answer comes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.core import texts
from bot.core.context import CoreContext
from bot.core.failures import failure_reply
from bot.core.photos import ChatPhoto
from bot.core.types import ChatRef, QueueCallback, Reply, ReplyKind
from inference.queue import QueueTicket, WorkerBusy, WorkerStopped
from inference.types import GenerationOptions, GenerationRequest, GenerationResult
from storage import OwedReply, TurnKind

log = logging.getLogger(__name__)

Finish = Callable[[list[GenerationResult]], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class ModelPlan:
    """The requests one reply needs (none for an OCR-only reply) and how their results become it.

    `beside` is work already running next to the model (OCR for a full description, the code and
    light checks; several gathered into one future); it is cancelled when the model gives no
    results, so nothing is left running unawaited. `kind` and `params` say the same as `finish`
    in data, for a front end that finishes it after a restart.
    """

    image_id: int
    requests: list[GenerationRequest]
    finish: Finish
    beside: asyncio.Future[Any] | None = None
    kind: str = ""
    params: dict[str, Any] | None = None
    reply_to: str | None = None


def model_request(
    ctx: CoreContext, photo: ChatPhoto, prompt: str, options: GenerationOptions | None = None
) -> GenerationRequest:
    """One prompt about `photo`; the caption options unless told otherwise."""
    return GenerationRequest(
        image=photo.prepared.model_image,
        image_key=photo.stored.content_hash,
        prompt=prompt,
        options=options or ctx.options.caption_options,
        photo_ref=photo.stored.id,
    )


async def carry_out(
    ctx: CoreContext, chat: ChatRef, plans: Sequence[ModelPlan], on_queued: QueueCallback | None
) -> list[Reply]:
    """Every plan's reply, in order: their requests submitted together, each finished on its own."""
    outcomes, owed = await generate(ctx, chat, plans, on_queued)
    finishing = []
    for plan, outcome in zip(plans, outcomes, strict=True):
        if isinstance(outcome, Reply):
            if plan.beside is not None:
                plan.beside.cancel()
            finishing.append(_given(replace(outcome, image_id=plan.image_id)))
        else:
            finishing.append(plan.finish(outcome))
    results = await asyncio.gather(*finishing, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancellation, shutdown: not a failure to apologise for
    await _settle(ctx, owed)
    return [failure_reply(r, "answer", chat) if isinstance(r, Exception) else r for r in results]


async def generate(
    ctx: CoreContext,
    chat: ChatRef,
    plans: Sequence[ModelPlan],
    on_queued: QueueCallback | None,
) -> tuple[list[list[GenerationResult] | Reply], list[str]]:
    """Each plan's results, or the Reply that says why it has none; and the ids of replies owed.

    All requests go to the queue in one `submit_many` (so they can share a batch); the place in
    line is told once; every plan is awaited within the one request timeout.
    """
    groups = [plan.requests for plan in plans]
    requests = [request for group in groups for request in group]
    if not requests:
        return [[] for _ in groups], []
    try:
        tickets = await ctx.queue.submit_many(requests, order_key=(chat.platform, chat.chat_id))
    except (WorkerBusy, WorkerStopped) as error:
        refusal = Reply(texts.BUSY if isinstance(error, WorkerBusy) else texts.STOPPING, ReplyKind.ERROR)
        return [refusal if group else [] for group in groups], []  # an OCR-only reply needs no model
    owed: list[str] = []
    outcomes: list[list[GenerationResult] | Reply] = []
    try:
        owed = await _owe(ctx, chat, plans, tickets)
        if tickets[0].ahead > 0 and on_queued is not None:
            try:
                await on_queued(tickets[0].ahead + 1)
            except Exception:  # a failed "you are number N" must not lose the answer
                log.warning("could not send the queue position to chat %s", chat.chat_id, exc_info=True)
        deadline = asyncio.get_running_loop().time() + ctx.options.request_timeout_s
        start = 0
        for group in groups:
            mine, start = tickets[start : start + len(group)], start + len(group)
            outcomes.append(await _results(chat, mine, deadline) if mine else [])
    finally:
        for ticket in tickets:
            ticket.cancel()  # no-op when answered; drops the rest on a timeout or a cancellation
    return outcomes, owed


async def _owe(
    ctx: CoreContext, chat: ChatRef, plans: Sequence[ModelPlan], tickets: Sequence[QueueTicket]
) -> list[str]:
    """Note each plan as a reply owed (networked queue only), so it is sent even if this process dies."""
    if ctx.ledger is None:
        return []
    owed, start = [], 0
    for plan in plans:
        mine, start = tickets[start : start + len(plan.requests)], start + len(plan.requests)
        if not mine:
            continue
        reply = OwedReply(
            id=uuid.uuid4().hex,
            platform=chat.platform,
            chat_external_id=chat.chat_id,
            user_id=chat.user_id,
            image_id=plan.image_id,
            kind=plan.kind,
            params=plan.params or {},
            job_ids=tuple(ticket.job_id for ticket in mine),
            frontend=ctx.frontend_id,
            reply_to=plan.reply_to,
        )
        await ctx.ledger.owe(reply)
        owed.append(reply.id)
    return owed


async def _settle(ctx: CoreContext, owed: list[str]) -> None:
    """The replies are handed to the front end: nobody needs to send them again."""
    if ctx.ledger is None:
        return
    for reply_id in owed:
        try:
            await ctx.ledger.delivered(reply_id)
        except Exception as error:  # the store is down: at worst a late copy is sent after a restart
            log.warning("could not close reply %s (%s)", reply_id, type(error).__name__)


async def _results(
    chat: ChatRef, tickets: list[QueueTicket], deadline: float
) -> list[GenerationResult] | Reply:
    try:
        async with asyncio.timeout_at(deadline):
            results = [await ticket.result() for ticket in tickets]
    except TimeoutError:
        return Reply(texts.TIMEOUT, ReplyKind.ERROR)
    except WorkerStopped:
        return Reply(texts.STOPPING, ReplyKind.ERROR)
    except Exception:
        log.exception("generation failed platform=%s chat=%s", chat.platform, chat.chat_id)
        return Reply(texts.FAILED, ReplyKind.ERROR)
    log.info(
        "answered platform=%s chat=%s requests=%d queue_wait_ms=%.0f generation_ms=%.0f tokens=%d",
        chat.platform, chat.chat_id, len(results), tickets[0].queue_wait_ms,
        max(r.generation_ms for r in results), sum(r.new_tokens for r in results),
    )  # fmt: skip
    return results


async def record_turn(
    ctx: CoreContext, photo: ChatPhoto, kind: TurnKind, question: str | None, answer: str, started: float
) -> None:
    """Keep one exchange in the chat's history, with the model's name and how long it took."""
    latency_ms = round(ms_since(started))
    await ctx.store.add_turn(
        photo.chat_id, photo.stored.id, kind, question, answer, ctx.queue.model.name, latency_ms
    )


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def _given(reply: Reply) -> Reply:
    return reply
