"""The platform-neutral vocabulary adapters and the core speak: who asked, and what to answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class ChatRef:
    """Where a message came from. `chat_id` scopes history; `user_id` scopes rate limits and settings."""

    platform: str
    chat_id: str
    user_id: str


class ReplyKind(StrEnum):
    ANSWER = "answer"  # the model's words about a photo
    INFO = "info"  # help, confirmations, "send me a photo first"
    ERROR = "error"  # something the user sent or asked could not be handled


@dataclass(frozen=True, slots=True)
class Upload:
    """A photo as a platform delivered it: its bytes and, if any, the message that carried it."""

    data: bytes = field(repr=False)
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class VoiceNote:
    """One spoken part of a reply: OGG/Opus audio and the text it speaks (for a caption)."""

    text: str
    ogg_opus: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Reply:
    """What to send back. `image_id` lets the adapter link its answer message to the photo.

    `voice` holds the reply spoken, in order, when the person turned voice replies on; the
    adapter sends them after the text.
    """

    text: str
    kind: ReplyKind = ReplyKind.ANSWER
    image_id: int | None = None
    voice: tuple[VoiceNote, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.kind is ReplyKind.ERROR


#: Called with the user's place in line (1 = next) when others are ahead of them.
QueueCallback = Callable[[int], Awaitable[None]]
