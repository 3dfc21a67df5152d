"""Each person's settings as commands: /settings, /detail, /voice, /language, /alt N.

A part of `ChatService` kept in its own module: it needs only the store, the defaults in the
service's options, the speaker (to refuse voice where it cannot work) and the OCR language list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot import texts
from bot.failures import replies_on_failure
from bot.preferences import (
    PreferenceError,
    Preferences,
    parse_alt_length,
    parse_detail,
    parse_language,
    parse_switch,
)
from bot.types import ChatRef, Reply, ReplyKind

if TYPE_CHECKING:
    from bot.service_options import ServiceOptions
    from bot.speech import Speaker
    from storage import Store


class SettingsCommands:
    """Mixed into `ChatService`, which provides these attributes."""

    store: Store
    options: ServiceOptions
    speaker: Speaker
    ocr_languages: Callable[[], list[str]]

    async def preferences(self, chat: ChatRef) -> Preferences:
        stored = await self.store.user_settings(chat.platform, chat.user_id)
        return self.options.preferences.merged(stored)

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
                if parsed and not self.speaker.available():
                    return Reply(texts.VOICE_UNAVAILABLE, ReplyKind.ERROR)
            elif name == "ocr_language":
                parsed = parse_language(value, await asyncio.to_thread(self.ocr_languages))
            elif name == "alt_text_chars":
                parsed = parse_alt_length(value)
            else:
                raise ValueError(f"unknown preference {name!r}")
        except PreferenceError as error:
            return Reply(str(error), ReplyKind.ERROR)
        await self.store.update_user_settings(chat.platform, chat.user_id, **{name: parsed})
        return Reply(texts.setting_changed(name, parsed), ReplyKind.INFO)

    async def ocr_language_list(self) -> list[str]:
        return await asyncio.to_thread(self.ocr_languages)
