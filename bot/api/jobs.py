"""Predictions as background jobs: stored first, run in a task, finished in the store, then announced.

A prediction is written to the store (status `starting`) before the request returns, so it can be
polled from any server sharing the database. Its task fetches the photo, moves it to
`processing`, asks the core, and records the output or a plain error. Each status change is a
conditional update, so a cancel racing a finish keeps whichever came first. A server stopped
mid-prediction leaves it unfinished in the store; `recover` runs it again at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from bot.api.auth import Caller
from bot.api.image_inputs import ImageInputError, ImageInputs
from bot.api.metrics import ApiMetrics
from bot.api.render import prediction_out
from bot.api.schemas import ModelInput
from bot.api.webhooks import WebhookSender
from bot.core import ChatService
from bot.core.predicting import PhotoQuery, PredictionFailed
from storage import PredictionRecord, PredictionStatus

log = logging.getLogger(__name__)

#: The error a prediction gets when something unexpected broke (the log has the details).
INTERNAL_ERROR = "Something went wrong on the server while running this prediction. Please try again."
FINAL = {PredictionStatus.SUCCEEDED.value, PredictionStatus.FAILED.value, PredictionStatus.CANCELED.value}
#: As Replicate: without a filter, a webhook hears of new output and of the end.
DEFAULT_EVENTS = ("output", "completed")


@dataclass(frozen=True, slots=True)
class NewPrediction:
    """What a create request asks for, in either wire shape."""

    input: ModelInput
    caller: Caller
    source: Literal["replicate", "eachlabs"]
    base_url: str
    webhook: str | None = None
    webhook_events: tuple[str, ...] | None = None  # None: DEFAULT_EVENTS

    @property
    def sent(self) -> dict[str, object]:
        """The input as the caller sent it (defaults they did not set left out), as it is stored."""
        return self.input.model_dump(exclude_unset=True)


class PredictionJobs:
    """Creates, runs, waits for and cancels predictions; one per API app."""

    def __init__(
        self,
        service: ChatService,
        images: ImageInputs,
        webhooks: WebhookSender,
        metrics: ApiMetrics,
        *,
        model_name: str,
        version_id: str,
        default_base_url: str,
    ) -> None:
        self.service = service
        self.store = service.store.predictions
        self.images = images
        self.webhooks = webhooks
        self.metrics = metrics
        self.model_name = model_name
        self.version_id = version_id
        self.default_base_url = default_base_url
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._finished: dict[str, asyncio.Event] = {}
        self._base_urls: dict[str, str] = {}

    async def create(self, new: NewPrediction) -> PredictionRecord:
        """Store the prediction and start it; one whose image input is unusable is stored failed."""
        prediction_id = uuid.uuid4().hex
        sent = dict(new.sent)
        problem = None
        try:
            sent["image"] = await self.images.keep_inline(
                new.input.image, token_hash=new.caller.token_hash, base_url=new.base_url
            )
        except ImageInputError as error:
            sent["image"], problem = "(data URI not kept)", str(error)
        now = datetime.now(UTC)
        record = PredictionRecord(
            id=prediction_id,
            model=self.model_name,
            version=self.version_id,
            status=PredictionStatus.STARTING.value,
            input=sent,
            source=new.source,
            created_at=now,
            webhook=new.webhook,
            webhook_events=(new.webhook_events or DEFAULT_EVENTS) if new.webhook else (),
            token_hash=new.caller.token_hash,
        )
        await self.store.create(record)
        self._base_urls[prediction_id] = new.base_url
        if problem is not None:
            await self.store.finish(prediction_id, error=problem, predict_time_s=None, now=now)
            self.metrics.predictions.labels(status="failed").inc()
            await self._announce_end(prediction_id)
            self._base_urls.pop(prediction_id, None)
        else:
            self._start(record)
        return await self.store.get(prediction_id) or record

    async def recover(self) -> int:
        """Run again what a stopped server left starting or processing; returns how many."""
        unfinished = await self.store.unfinished()
        for record in unfinished:
            if record.id not in self._tasks:
                log.info("prediction %s: left unfinished by a restart, running it again", record.id)
                self._start(record)
        return len(unfinished)

    async def wait(self, prediction_id: str, timeout_s: float) -> PredictionRecord | None:
        """The prediction once finished, or as it is after `timeout_s`; None if there is none."""
        finished = self._finished.get(prediction_id)
        if finished is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), timeout_s)
            return await self.store.get(prediction_id)
        # Not running here (another server's, or already done): watch the store.
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            record = await self.store.get(prediction_id)
            if record is None or record.status in FINAL or asyncio.get_running_loop().time() >= deadline:
                return record
            await asyncio.sleep(0.25)

    async def cancel(self, prediction_id: str) -> PredictionRecord | None:
        """Cancel it if unfinished (its model work is dropped); the prediction as it now is."""
        before = await self.store.get(prediction_id)
        record = await self.store.cancel(prediction_id, datetime.now(UTC))
        task = self._tasks.get(prediction_id)
        if task is not None:
            task.cancel()
        if before is not None and before.status not in FINAL and record is not None:
            self.metrics.predictions.labels(status=record.status).inc()
            await self._announce_end(prediction_id)
        return record

    async def stop(self, timeout_s: float) -> None:
        """At shutdown: let running predictions finish for `timeout_s`, then leave the rest to `recover`."""
        running = [task for task in self._tasks.values() if not task.done()]
        if running:
            _, pending = await asyncio.wait(running, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.webhooks.drain(timeout_s=5.0)

    def base_url(self, prediction_id: str) -> str:
        return self._base_urls.get(prediction_id, self.default_base_url)

    def _start(self, record: PredictionRecord) -> None:
        self._finished[record.id] = asyncio.Event()
        task = asyncio.create_task(self._run(record), name=f"prediction-{record.id}")
        self._tasks[record.id] = task
        task.add_done_callback(lambda _: self._forget_task(record.id))

    def _forget_task(self, prediction_id: str) -> None:
        self._tasks.pop(prediction_id, None)
        self._base_urls.pop(prediction_id, None)
        finished = self._finished.pop(prediction_id, None)
        if finished is not None:
            finished.set()

    async def _run(self, record: PredictionRecord) -> None:
        """Fetch, run, record; a cancellation (a cancel, or shutdown) records nothing."""
        output = error = logs = None
        predict_time_s = None
        try:
            given = ModelInput.model_validate(record.input)
            data = await self.images.fetch(given.image, token_hash=record.token_hash or "")
            if await self.store.start(record.id, datetime.now(UTC)):
                await self._announce(record.id, "start")
            elif await self._ended(record.id):
                return  # canceled meanwhile
            # else: it was processing when a server stopped, and is run again from the start
            answer = await self.service.predicting.answer(
                _query(given, data), owner=(record.token_hash or "")[:32]
            )
            output, predict_time_s = answer.text, answer.predict_time_s
            logs = "\n".join(
                [*(f"prompt: {prompt!r}" for prompt in answer.prompts),
                 f"queue wait {answer.queue_wait_s:.3f} s, predict time {answer.predict_time_s:.3f} s, "
                 f"{answer.new_tokens} new tokens"]
            )  # fmt: skip
            self.metrics.queue_wait.observe(answer.queue_wait_s)
            self.metrics.predict_time.observe(answer.predict_time_s)
        except (ImageInputError, PredictionFailed) as failure:
            error = str(failure)
        except ValidationError:  # a stored input an older version accepted
            error = "The stored input is no longer valid for this model."
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("prediction %s failed", record.id)
            error = INTERNAL_ERROR
        moved = await self.store.finish(
            record.id,
            output=output,
            error=error,
            predict_time_s=predict_time_s,
            now=datetime.now(UTC),
            logs=logs,
        )
        if moved:
            status = "failed" if error is not None else "succeeded"
            self.metrics.predictions.labels(status=status).inc()
            log.info(
                "prediction %s %s source=%s predict_time_s=%s",
                record.id, status, record.source, f"{predict_time_s:.3f}" if predict_time_s else "-",
            )  # fmt: skip
            await self._announce_end(record.id)

    async def _ended(self, prediction_id: str) -> bool:
        current = await self.store.get(prediction_id)
        return current is None or current.status in FINAL

    async def _announce_end(self, prediction_id: str) -> None:
        record = await self.store.get(prediction_id)
        if record is None or not record.webhook:
            return
        events = set(record.webhook_events)
        if "completed" in events:
            await self._announce(prediction_id, "completed", record)
        elif "output" in events and record.output is not None:
            await self._announce(prediction_id, "output", record)
        elif "logs" in events and record.logs:
            await self._announce(prediction_id, "logs", record)

    async def _announce(self, prediction_id: str, event: str, record: PredictionRecord | None = None) -> None:
        record = record or await self.store.get(prediction_id)
        if record is None or not record.webhook or event not in record.webhook_events:
            return
        body = prediction_out(record, self.base_url(prediction_id)).model_dump_json().encode()
        self.webhooks.send(record.webhook, body, event=event, prediction_id=prediction_id)


def _query(given: ModelInput, data: bytes) -> PhotoQuery:
    return PhotoQuery(
        image=data,
        caption=given.caption,
        question=given.question,
        context=given.context,
        use_nucleus_sampling=given.use_nucleus_sampling,
        temperature=given.temperature,
        detail=given.detail,
        read_text=given.read_text,
        scan_codes=given.scan_codes,
        light_hint=given.light_hint,
        colours=given.colours,
        alt_text_chars=given.alt_text_chars,
    )
