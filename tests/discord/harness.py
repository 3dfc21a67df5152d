"""What the Discord tests share: fast generation options, the stand-in OCR text, and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.app.config import Settings
from bot.core.preferences import Preferences
from bot.core.service import ServiceOptions
from inference.types import GenerationOptions
from tests.fakes.discord_api import FakeDiscord

#: Short greedy decoding: the tiny model answers in milliseconds.
CAPTION_OPTIONS = GenerationOptions(num_beams=1, max_new_tokens=6)
ANSWER_OPTIONS = GenerationOptions(num_beams=1, max_new_tokens=4)
#: A description is one request (brief), and the random model's doubt never rewords an answer.
SERVICE_OPTIONS = ServiceOptions(
    caption_options=CAPTION_OPTIONS,
    answer_options=ANSWER_OPTIONS,
    photos_per_minute=100,
    request_timeout_s=10.0,
    preferences=Preferences(detail="brief"),
    low_confidence_logprob=float("-inf"),
)
#: What the stand-in OCR "reads" in every picture (full detail asks for it).
OCR_TEXT = "OPEN 9 TO 5"


def discord_settings(fake: FakeDiscord, state_dir: Path, **discord: Any) -> Settings:
    return Settings(
        discord={"token": fake.token, "state_dir": str(state_dir), **discord},
        inference={"request_timeout_s": 10.0},
    )
