"""The platform-neutral core: what every front end hands a photo, a question or a command to.

Front ends import from here; the core imports only `storage` and `inference`, never a platform.
`service` holds `ChatService`; the flows it is made of are `describing`, `answering`,
`reading`, `settings` and `privacy`; `generating` is the one way to the model's queue.
"""

from bot.core.errors import ConfigError, StartupError
from bot.core.options import ServiceOptions
from bot.core.service import ChatService
from bot.core.types import ChatRef, QueueCallback, Reply, ReplyKind, Upload, VoiceNote

__all__ = [
    "ChatRef",
    "ChatService",
    "ConfigError",
    "QueueCallback",
    "Reply",
    "ReplyKind",
    "ServiceOptions",
    "StartupError",
    "Upload",
    "VoiceNote",
]
