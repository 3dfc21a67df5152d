"""Each person's settings as commands: /settings, /detail, /voice, /language, /alt N.

Settings belong to a person on a platform, not to a chat: the same /detail applies in every
group they use the bot in. The defaults come from the config (`accessibility:`).
"""

from __future__ import annotations

import asyncio

from bot.core import texts
from bot.core.context import CoreContext
from bot.core.failures import replies_on_failure
from bot.core.preferences import (
    PreferenceError,
    Preferences,
    parse_alt_length,
    parse_detail,
    parse_language,
    parse_switch,
)
from bot.core.types import ChatRef, Reply, ReplyKind

#: The on/off preferences that need nothing installed (voice needs a speaker, so it is apart).
SWITCHES = ("codes", "light_hints", "colours")


class SettingsFlow:
    """Reads and changes one person's preferences; every other flow asks it for them."""

    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    async def preferences(self, chat: ChatRef) -> Preferences:
        stored = await self.ctx.store.user_settings(chat.platform, chat.user_id)
        return self.ctx.options.preferences.merged(stored)

    @replies_on_failure
    async def show_settings(self, chat: ChatRef) -> Reply:
        return Reply(texts.settings_summary(await self.preferences(chat)), ReplyKind.INFO)

    @replies_on_failure
    async def set_preference(self, chat: ChatRef, name: str, value: str) -> Reply:
        """/detail, /voice, /language, /alt N: validate what the person typed and store it."""
        try:
            if name == "detail":
                parsed: object = parse_detail(value)
            elif name == "voice":
                parsed = parse_switch(value)
                if parsed and not self.ctx.speaker.available():
                    return Reply(texts.VOICE_UNAVAILABLE, ReplyKind.ERROR)
            elif name in SWITCHES:
                parsed = parse_switch(value)
            elif name == "ocr_language":
                parsed = parse_language(value, await self.ocr_language_list())
            elif name == "alt_text_chars":
                parsed = parse_alt_length(value)
            else:
                raise ValueError(f"unknown preference {name!r}")
        except PreferenceError as error:
            return Reply(str(error), ReplyKind.ERROR)
        await self.ctx.store.update_user_settings(chat.platform, chat.user_id, **{name: parsed})
        return Reply(texts.setting_changed(name, parsed), ReplyKind.INFO)

    async def ocr_language_list(self) -> list[str]:
        """The Tesseract languages installed on this server (a subprocess: off the loop)."""
        return await asyncio.to_thread(self.ctx.ocr_languages)
