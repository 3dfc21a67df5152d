"""The core's knobs (read from the config at start) and the one pattern it routes questions by."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.core.preferences import Preferences
from inference.types import ANSWER_OPTIONS, CAPTION_OPTIONS, GenerationOptions

OCR_MODEL_NAME = "tesseract"
#: Questions that mean "read the text to me": answered by OCR, not by the model's guess.
READ_REQUEST = re.compile(
    r"^\s*(please\s+)?(read\b|what\s+does\s+(it|this|that|the\s+\w+)\s+say\b|what('s|\s+is)\s+written\b"
    r"|what\s+is\s+the\s+text\b|what\s+text\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """The knobs of the core, taken from the config at start."""

    caption_options: GenerationOptions = CAPTION_OPTIONS
    answer_options: GenerationOptions = ANSWER_OPTIONS
    caption_prefix: str = ""
    max_image_bytes: int = 50 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    photos_per_minute: int = 10
    request_timeout_s: float = 120.0
    retention_days: int = 30
    preferences: Preferences = field(default_factory=Preferences)
    low_confidence_logprob: float = -1.2
