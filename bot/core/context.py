"""What every flow of the core works with, built once by `ChatService` and handed to each flow.

The flows (describing, answering, reading, settings, privacy) are small classes over this one
object instead of methods of one large class: each can be read, and tested, on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

    from bot.core.options import ServiceOptions
    from bot.core.ratelimit import RateLimiter
    from bot.core.speech import Speaker
    from inference.ocr import OcrResult
    from inference.queue import InferenceQueue
    from storage import ReplyLedger, Store


@dataclass(slots=True)
class CoreContext:
    """The store, the model's queue, the knobs, and the tools that run beside the model."""

    store: Store
    queue: InferenceQueue
    options: ServiceOptions
    speaker: Speaker
    ocr: Callable[[Image.Image, str], OcrResult]
    ocr_languages: Callable[[], list[str]]
    rate_limiter: RateLimiter
    #: With the networked queue: where each reply owed is noted until it is sent (else None).
    ledger: ReplyLedger | None = None
    #: This process's name in that ledger (the networked queue's front end id).
    frontend_id: str = "local"
