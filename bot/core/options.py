"""The core's knobs (read from the config at start) and the patterns it routes questions by."""

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
#: Questions about a QR code or barcode: answered like /scan, by the code reader, never by OCR
#: or the model (a code's link is exact; the model would guess). Check it before `READ_REQUEST`,
#: which would otherwise take "what does the code say?" for a request to read text.
SCAN_REQUEST = re.compile(
    r"^\s*(please\s+)?(can\s+you\s+)?("
    r"(what\s+does|what's\s+in|what\s+is\s+in)\s+(the|this|that)\s+(qr\s+|bar\s*)?code\s+(say|link|mean|contain)?"
    r"|(read|scan)\s+(the|this|that)\s+(qr\s+|bar\s*)?code\b"
    r"|what('s|\s+is)\s+(the|this|that)\s+(qr\s+|bar\s*)?code\b"
    r"|(is|are)\s+there\s+(a|an|any)\s+(qr\s+|bar\s*)?codes?\b"
    r"|where\s+does\s+(the|this|that)\s+(qr\s+|bar\s*)?code\s+(go|lead|link)\b"
    r")",
    re.IGNORECASE,
)
#: "What colour is it?": answered like /colour when the photo is mostly one thing (see
#: checking.py). Only "it", "this" and "that": "what colour is the door?" names one thing among
#: others, which only the model can find in the photo.
COLOUR_REQUEST = re.compile(
    r"^\s*(please\s+)?(can\s+you\s+tell\s+me\s+)?what\s+colou?rs?\s+(is|are)\s+(it|this|that)\s*[?.!]*\s*$",
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
