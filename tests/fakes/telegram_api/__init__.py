"""A fake Telegram Bot API server for the real python-telegram-bot `Application`.

`server.FakeTelegram` is what tests script; `routes` is its HTTP face and `calls` its record of requests,
over `telegram_methods.BotApi`'s in-memory world. Importers need only `FakeTelegram` (and `DOWNLOAD`,
the name file downloads are logged and failed under).
"""

from tests.fakes.telegram_api.routes import DOWNLOAD
from tests.fakes.telegram_api.server import FakeTelegram

__all__ = ["DOWNLOAD", "FakeTelegram"]
