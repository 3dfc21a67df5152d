"""Discord: a discord.py client with an `app_commands` tree over the shared core.

The public surface is what the runner and the config need; the rest stays in its modules:
`adapter` (lifecycle), `commands` (the slash commands and the menu), `mentions` (messages that
address the bot), `settings`, `forget`, `inflight` (what is being answered, each conversation in
turn), `replies` (sending), `sync`, `config` (its section).
"""

from bot.discord.adapter import DiscordAdapter, build_adapter, is_configured
from bot.discord.config import DiscordConfig

__all__ = ["DiscordAdapter", "DiscordConfig", "build_adapter", "is_configured"]
