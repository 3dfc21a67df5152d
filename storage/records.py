"""What `Store` hands to the rest of the app: frozen values and the one error it raises.

Plain dataclasses rather than ORM rows, so nothing outside `storage/` can lazy-load or write back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class TurnKind(StrEnum):
    CAPTION = "caption"  # the description sent when a photo arrives
    QUESTION = "question"  # an answer to something the user asked about a photo


@dataclass(frozen=True, slots=True)
class StoredImage:
    id: int
    chat_id: int
    content_hash: str  # sha256 of data, hex
    data: bytes = field(repr=False)  # never in a repr, so never in a log line
    mime: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Exchange:
    """One earlier question and its answer, as the prompt builder replays them."""

    question: str
    answer: str


class NotFoundError(LookupError):
    """The chat does not exist, or the image is not one of that chat's."""
