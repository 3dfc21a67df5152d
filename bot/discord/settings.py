"""Each person's settings on Discord: /settings, /detail, /voice, /codes, /lighthints, /language, privately.

Discord offers the allowed values as choices (and the installed OCR languages as suggestions while
typing), but the core still checks every value, so Discord words and Telegram words mean the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from bot.core import texts
from bot.core.service import ChatService
from bot.core.types import ChatRef
from bot.discord.replies import InteractionReplies

#: Discord shows at most 25 suggestions for an option.
MAX_SUGGESTIONS = 25

#: The quick checks' on/off commands: the command, the core's preference, what Discord shows.
SWITCH_COMMANDS = (
    ("codes", "codes", "Tell you about QR codes and barcodes in new pictures"),
    ("lighthints", "light_hints", "Tell you when a picture is too dark, too bright or blurred"),
    ("colourcheck", "colours", "Answer what colour something is by measuring the picture"),
)
ON_OFF = [app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]

Handler = Callable[[InteractionReplies], Awaitable[None]]
Run = Callable[[discord.Interaction, Handler], Awaitable[None]]


class DiscordSettingsCommands:
    """The settings commands, bound to one service; `run` is the adapter's guard for every command."""

    def __init__(
        self, service: ChatService, run: Run, chat: Callable[[discord.Interaction], ChatRef]
    ) -> None:
        self.service = service
        self.run = run
        self.chat = chat

    def register(self, tree: app_commands.CommandTree) -> None:
        @tree.command(name="settings", description="Show your settings")
        async def settings(interaction: discord.Interaction) -> None:
            await self.run(interaction, lambda replies: self.show(interaction, replies))

        @tree.command(name="detail", description="How much I say about a new picture")
        @app_commands.describe(level="Brief, normal or full")
        @app_commands.choices(
            level=[
                app_commands.Choice(name="brief: one sentence", value="brief"),
                app_commands.Choice(name="normal: a few sentences", value="normal"),
                app_commands.Choice(name="full: everything, with any text read out", value="full"),
            ]
        )
        async def detail(interaction: discord.Interaction, level: app_commands.Choice[str]) -> None:
            await self.run(
                interaction, lambda replies: self.change(interaction, replies, "detail", level.value)
            )

        @tree.command(name="voice", description="Also send my answers as audio files")
        @app_commands.describe(mode="On or off")
        @app_commands.choices(
            mode=[app_commands.Choice(name="on", value="on"), app_commands.Choice(name="off", value="off")]
        )
        async def voice(interaction: discord.Interaction, mode: app_commands.Choice[str]) -> None:
            await self.run(
                interaction, lambda replies: self.change(interaction, replies, "voice", mode.value)
            )

        for name, preference, description in SWITCH_COMMANDS:
            self._register_switch(tree, name, preference, description)

        @tree.command(name="language", description="The language of the text I read")
        @app_commands.describe(code="A language code, such as eng. Leave it out to see the ones I know")
        @app_commands.autocomplete(code=self.suggest_languages)
        async def language(interaction: discord.Interaction, code: str | None = None) -> None:
            await self.run(interaction, lambda replies: self.choose_language(interaction, replies, code))

    def _register_switch(
        self, tree: app_commands.CommandTree, name: str, preference: str, description: str
    ) -> None:
        """One on/off command; a function of its own so each command keeps its own preference name."""

        @tree.command(name=name, description=description)
        @app_commands.describe(mode="On or off")
        @app_commands.choices(mode=ON_OFF)
        async def switch(interaction: discord.Interaction, mode: app_commands.Choice[str]) -> None:
            await self.run(
                interaction, lambda replies: self.change(interaction, replies, preference, mode.value)
            )

    async def show(self, interaction: discord.Interaction, replies: InteractionReplies) -> None:
        await replies.private((await self.service.show_settings(self.chat(interaction))).text)

    async def change(
        self, interaction: discord.Interaction, replies: InteractionReplies, name: str, value: str
    ) -> None:
        """Store a setting; the confirmation, or why the value cannot be used, only the user sees."""
        await replies.private((await self.service.set_preference(self.chat(interaction), name, value)).text)

    async def choose_language(
        self, interaction: discord.Interaction, replies: InteractionReplies, code: str | None
    ) -> None:
        if code is not None and code.strip():
            await self.change(interaction, replies, "ocr_language", code)
            return
        installed = await self.service.ocr_language_list()
        if not installed:
            await replies.private(texts.OCR_UNAVAILABLE)
            return
        current = (await self.service.preferences(self.chat(interaction))).ocr_language
        await replies.private(texts.ocr_languages(current, installed))

    async def suggest_languages(
        self, interaction: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[str]]:
        """The installed languages that start with what was typed; after a "+", the next one to add."""
        return [
            app_commands.Choice(name=code, value=code)
            for code in language_suggestions(typed, await self.service.ocr_language_list())
        ]


def language_suggestions(typed: str, installed: list[str]) -> list[str]:
    """Codes to offer for `typed`: "en" gives "eng"; "eng+f" gives "eng+fra" (Tesseract reads both)."""
    typed = typed.strip().lower()
    chosen, _, partial = typed.rpartition("+")
    taken = set(chosen.split("+")) if chosen else set()
    prefix = f"{chosen}+" if chosen else ""
    return [prefix + code for code in installed if code.startswith(partial) and code not in taken][
        :MAX_SUGGESTIONS
    ]
