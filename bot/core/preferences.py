"""Each person's own settings: how much detail, spoken replies, OCR language, alt text length,
and which quick checks (codes, light, colours) come with a description.

Stored per platform user in the store (so they follow a person across chats and restarts, and
`/forget` removes them); the config's `accessibility` section gives the defaults. Parsing what a
person typed ("/detail full", "/voice on") lives here so every adapter accepts the same words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, get_args

Detail = Literal["brief", "normal", "full"]
DETAILS: tuple[str, ...] = get_args(Detail)
ALT_TEXT_RANGE = (20, 1000)
_ON = {"on", "yes", "true", "1", "enable", "enabled"}
_OFF = {"off", "no", "false", "0", "disable", "disabled"}


class PreferenceError(ValueError):
    """A setting value a person typed that cannot be used; the message says what can."""


@dataclass(frozen=True, slots=True)
class Preferences:
    detail: Detail = "normal"
    voice: bool = False
    ocr_language: str = "eng"
    alt_text_chars: int = 125
    codes: bool = True  # say the QR codes and barcodes found before a description
    light_hints: bool = True  # say "this photo is very dark" (or bright, or blurred) first
    colours: bool = True  # answer "what colour is it?" with the measured colours (else the model)

    def merged(self, stored: dict[str, Any]) -> Preferences:
        """These defaults overlaid with what the person chose (unknown or bad keys ignored)."""
        known = {k: v for k, v in stored.items() if k in self.__dataclass_fields__}
        try:
            return replace(self, **known)
        except TypeError:
            return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_detail(value: str) -> Detail:
    value = value.strip().lower()
    if value not in DETAILS:
        raise PreferenceError("Please choose brief, normal or full, for example: /detail full")
    return value  # type: ignore[return-value]


def parse_switch(value: str) -> bool:
    value = value.strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise PreferenceError("Please say on or off, for example: /voice on")


def parse_alt_length(value: str) -> int:
    low, high = ALT_TEXT_RANGE
    try:
        length = int(value.strip())
    except ValueError:
        raise PreferenceError(f"Please give a number of characters from {low} to {high}.") from None
    if not low <= length <= high:
        raise PreferenceError(f"Please give a number of characters from {low} to {high}.")
    return length


def parse_language(value: str, installed: list[str]) -> str:
    value = value.strip().lower()
    if not installed:
        raise PreferenceError("Reading text is not available on this server.")
    if not value or any(part not in installed for part in value.split("+")):
        languages = ", ".join(installed)
        raise PreferenceError(f"The languages I can read are: {languages}. For example: /language eng")
    return value
