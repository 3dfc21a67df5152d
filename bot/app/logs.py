"""The process's log: one line per record on stderr, with every configured secret blanked out.

Libraries log what they see, and some see secrets: python-telegram-bot logs its API URL, which
holds the bot token, at DEBUG. Rather than hunting each such line, the formatter replaces every
secret the settings hold (tokens, the webhook and session secrets, the access code, the
database password) in the finished line, traceback included, at every level.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.app.config import Settings

MASK = "**********"


class RedactingFormatter(logging.Formatter):
    """A formatter whose output never contains any of `secrets`."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self.secrets = blanking_order(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def blanking_order(secrets: Iterable[str]) -> list[str]:
    """The secrets worth blanking (4 characters or more), longest first: one that contains another
    is then blanked whole.
    """
    return sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every one of `secrets` (in `blanking_order`) replaced by the mask."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold."""
    values = [
        settings.telegram.token,
        settings.telegram.webhook_secret,
        settings.discord.token,
        settings.api.webhook_secret,
        settings.web.access_code,
        settings.web.session_secret,
        *settings.api.tokens,
    ]
    found = [value.get_secret_value() for value in values if value is not None]
    try:
        password = make_url(settings.storage.url.get_secret_value()).password
    except ArgumentError:
        password = None
    if password:
        found.append(str(password))
    return found


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    logging.basicConfig(level=level, handlers=[handler])
    # httpx logs every request URL, and Telegram URLs contain the bot token.
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # discord.py's DEBUG lines carry raw gateway events and webhook URLs with interaction tokens.
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLogger().getEffectiveLevel()))
    # Progress bars: inference/loading.py turns off weight loading's and keeps a download's.
