"""Telegram: python-telegram-bot's `Application` and handlers over the shared core.

The public surface is what the runner and the config need; the rest stays in its modules:
`adapter` (lifecycle), `ordering` (each chat's updates in turn), `handlers` (one callback per
update kind), `forget` (/forget and its buttons), `replies` (sending), `messages` (reading PTB
objects), `album` (gathering a media group), `config` (its section).
"""

from bot.telegram.adapter import TelegramAdapter, build_adapter, is_configured
from bot.telegram.config import TelegramConfig

__all__ = ["TelegramAdapter", "TelegramConfig", "build_adapter", "is_configured"]
