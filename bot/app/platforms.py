"""The chat platforms `blipbot run` can start, and the check that at least one is set up.

Kept apart from the runner, which imports the model code (torch, transformers: seconds), so that a
start with nothing configured says so at once instead of after those imports.
"""

from __future__ import annotations

from types import ModuleType

from bot import discord, telegram
from bot.app.config import Settings

#: A front end is a package with `is_configured(settings)` and `build_adapter(settings, service)`.
PLATFORMS: dict[str, ModuleType] = {"telegram": telegram, "discord": discord}

NOTHING_CONFIGURED = (
    "blipbot: no chat platform is configured. Set telegram.token (BLIPBOT_TELEGRAM__TOKEN) "
    "or discord.token (BLIPBOT_DISCORD__TOKEN), or api.enabled; see the README."
)


def configured_platforms(settings: Settings) -> list[str]:
    """Platforms with a token, checked before the model loads so a bare start fails fast."""
    return [name for name, platform in PLATFORMS.items() if platform.is_configured(settings)]


def nothing_to_run(settings: Settings) -> bool:
    """True when `blipbot run` would start no platform and no HTTP API."""
    return not configured_platforms(settings) and not settings.api.enabled
