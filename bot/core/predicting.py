"""One-shot predictions: a photo and its inputs in, one string out, as the hosted BLIP-2 APIs answer.

This is the flow behind the HTTP API. It takes the hosted model's inputs (`caption`, `question`,
`context`, sampling) plus blipbot's own (`detail`, `read_text`, `alt_text_chars`, and the chats'
quick checks `scan_codes`, `light_hint`, `colours`, all off by default so the output stays the
model's words) and returns the text, or raises `PredictionFailed` with a plain sentence. The photo
is stored like a chat's (in one "api" chat per token), so a worker in another process can load it
by reference, and the retention purge deletes it with everything else.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace

from bot.core import texts
from bot.core.checking import checks_said, colours_said
from bot.core.context import CoreContext
from bot.core.describing import DescribeFlow
from bot.core.generating import model_request
from bot.core.images import ImageError
from bot.core.photos import ChatPhoto, prepare
from bot.core.preferences import Detail
from bot.core.reading import ReadFlow
from bot.core.wording import alt_text
from inference.ocr import OcrResult
from inference.prompts import caption_prompt
from inference.queue import QueueTicket, WorkerBusy, WorkerStopped
from inference.types import GenerationRequest, GenerationResult

#: The platform name of the chats that hold the API's photos.
API_PLATFORM = "api"
#: The hosted BLIP-2's default question.
DEFAULT_QUESTION = "What is this a picture of?"


class PredictionFailed(Exception):
    """The prediction cannot be answered; `str(error)` is a plain sentence to show the caller."""


@dataclass(frozen=True, slots=True)
class PhotoQuery:
    """What one prediction asks: the hosted BLIP-2's inputs and blipbot's extras."""

    image: bytes = field(repr=False)
    caption: bool = False
    question: str = DEFAULT_QUESTION
    context: str = ""
    use_nucleus_sampling: bool = False
    temperature: float = 1.0
    detail: Detail | None = None  # a woven description at this level instead of the bare caption
    read_text: bool = False  # add the text OCR reads in the photo
    scan_codes: bool = False  # say the QR codes and barcodes first
    light_hint: bool = False  # say first when the photo is very dark, overexposed or blurred
    colours: bool = False  # add the main colours in the photo's centre
    alt_text_chars: int | None = None  # cut the output to this length at a word boundary
    ocr_language: str | None = None  # the server's default when None

    @property
    def describes(self) -> bool:
        """A description rather than an answer: `caption` set, or no question asked."""
        return self.caption or not self.question.strip()

    @property
    def wants_checks(self) -> bool:
        """Whether any quick check (codes, light, colours) was asked for."""
        return self.scan_codes or self.light_hint or self.colours


@dataclass(frozen=True, slots=True)
class PhotoAnswer:
    """The output and what the prediction's logs and metrics report."""

    text: str
    prompts: tuple[str, ...]  # what the model saw, in order
    predict_time_s: float
    queue_wait_s: float
    new_tokens: int


class PredictionFlow:
    """Answers `PhotoQuery`s through the same queue, store and wording as the chats."""

    def __init__(self, ctx: CoreContext, describing: DescribeFlow, reading: ReadFlow) -> None:
        self.ctx = ctx
        self.describing = describing
        self.reading = reading

    async def answer(self, query: PhotoQuery, *, owner: str) -> PhotoAnswer:
        """Run one prediction; `owner` names the API chat that keeps the photo (one per token).

        Raises
        `PredictionFailed` for anything the caller should be told, never with a traceback in it.
        """
        started = time.perf_counter()
        try:
            prepared = await asyncio.to_thread(prepare, self.ctx, query.image)
        except ImageError as error:
            raise PredictionFailed(str(error)) from None
        chat_id = await self.ctx.store.chat_id(API_PLATFORM, owner)
        stored = await self.ctx.store.add_image(
            chat_id, query.image, prepared.mime, prepared.width, prepared.height
        )
        photo = ChatPhoto(chat_id, stored, prepared)
        language = query.ocr_language or self.ctx.options.preferences.ocr_language
        reading = asyncio.create_task(self.reading.ocr(prepared.image, language)) if query.read_text else None
        checks = asyncio.create_task(_quick_checks(photo, query)) if query.wants_checks else None
        try:
            text, prompts, results, tickets = await self._generate(photo, query, language)
            if checks is not None:
                before, after = await checks
                text = _sentences([*before, text, *after])
            if reading is not None:
                text = _with_text_read(text, await reading)
        finally:
            for task in (reading, checks):
                if task is not None:
                    task.cancel()
        if query.alt_text_chars is not None:
            text = alt_text(text, query.alt_text_chars)
        return PhotoAnswer(
            text=text,
            prompts=prompts,
            predict_time_s=time.perf_counter() - started,
            queue_wait_s=(tickets[0].queue_wait_ms / 1000) if tickets else 0.0,
            new_tokens=sum(result.new_tokens for result in results),
        )

    async def _generate(
        self, photo: ChatPhoto, query: PhotoQuery, language: str
    ) -> tuple[str, tuple[str, ...], list[GenerationResult], list[QueueTicket]]:
        """The model's output for `query`, with its prompts, results and tickets."""
        options = self.ctx.options
        if query.describes and query.detail is not None:
            # The API returns what the model says, as the hosted BLIP-2 does: no chat hints
            # (the caller opts in to the quick checks instead; `answer` runs them).
            prefs = replace(options.preferences, ocr_language=language, codes=False, light_hints=False)
            plan = self.describing.describe_plan(photo, query.detail, prefs)
            results, tickets = await self._run(plan.requests, photo)
            reply = await plan.finish(results)
            return reply.text, tuple(r.prompt for r in plan.requests), results, tickets
        sampling = {"use_nucleus_sampling": query.use_nucleus_sampling, "temperature": query.temperature}
        if query.describes:
            prompt = caption_prompt(options.caption_prefix)
            generation = replace(options.caption_options, **sampling)
        else:
            if not self.ctx.queue.model.can_answer_questions:
                raise PredictionFailed(texts.CAPTION_ONLY)
            prompt = context_prompt(query.question, query.context)
            generation = replace(options.answer_options, **sampling)
        request = model_request(self.ctx, photo, prompt, generation)
        results, tickets = await self._run([request], photo)
        return results[0].text, (prompt,), results, tickets

    async def _run(
        self, requests: list[GenerationRequest], photo: ChatPhoto
    ) -> tuple[list[GenerationResult], list[QueueTicket]]:
        try:
            tickets = await self.ctx.queue.submit_many(requests, order_key=(API_PLATFORM, photo.stored.id))
        except WorkerBusy:
            raise PredictionFailed(
                "The server is busy with other photos. Please try again in a minute."
            ) from None
        except WorkerStopped:
            raise PredictionFailed("The server is restarting. Please try again in a minute.") from None
        try:
            async with asyncio.timeout(self.ctx.options.request_timeout_s):
                return [await ticket.result() for ticket in tickets], tickets
        except TimeoutError:
            raise PredictionFailed("The model took too long and the prediction was given up.") from None
        except WorkerStopped:
            raise PredictionFailed("The server stopped before the model answered.") from None
        finally:
            for ticket in tickets:
                ticket.cancel()  # no-op when answered; drops the rest on a timeout or a cancel


def context_prompt(question: str, context: str) -> str:
    """The hosted BLIP-2's prompt: the earlier Q&A given as `context`, then the question."""
    current = f"Question: {question.strip()} Answer:"
    context = " ".join(context.split())
    return f"{context} {current}" if context else current


def _with_text_read(text: str, reading: OcrResult | None) -> str:
    """The output, then what OCR read (or that it read nothing); unchanged when OCR is unavailable."""
    if reading is None:
        return text
    found = texts.text_found(reading.text) if reading.found else texts.NO_TEXT_FOUND
    return _sentences([text, found])


def _sentences(parts: list[str]) -> str:
    """The parts as one text, each ended with a full stop when followed by another (the model's
    raw caption has none), so a screen reader pauses between the caption and what follows."""
    kept = [part.strip() for part in parts if part and part.strip()]
    return " ".join(
        part if n == len(kept) - 1 or part.endswith((".", "!", "?", ":")) else f"{part}."
        for n, part in enumerate(kept)
    )


async def _quick_checks(photo: ChatPhoto, query: PhotoQuery) -> tuple[list[str], list[str]]:
    """The quick checks asked for, off the loop: the sentences to say before the output (the
    codes, then a light hint) and after it (the main colours). A failed check is logged and left
    out, as in the chats: it never costs the caller the output.
    """
    before = checks_said(photo, codes=query.scan_codes, light=query.light_hint)
    if not query.colours:
        return await before, []
    said, colours = await asyncio.gather(before, colours_said(photo))
    return said, [colours] if colours else []
