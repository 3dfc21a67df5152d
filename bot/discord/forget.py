"""/forget's confirmation: a private question with Yes and No buttons that only the asker can press.

Nothing is deleted until Yes; the question turns into the result (or "Nothing was deleted" after No,
or after `FORGET_CONFIRM_TIMEOUT_S` without an answer), so no live buttons are left behind.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import discord

from bot.core import texts
from bot.core.service import ChatService
from bot.core.types import ChatRef
from bot.discord.replies import InteractionReplies, log_failure

if TYPE_CHECKING:
    from bot.discord.inflight import InFlight

FORGET_CONFIRM_TIMEOUT_S = 300.0


class ForgetView(discord.ui.View):
    def __init__(
        self, service: ChatService, inflight: InFlight, chat: ChatRef, asked: discord.Interaction
    ) -> None:
        super().__init__(timeout=FORGET_CONFIRM_TIMEOUT_S)
        self.service = service
        self.inflight = inflight
        self.chat = chat
        self.asked = asked

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.asked.user.id:
            return True
        await interaction.response.send_message(texts.FORGET_NOT_YOURS, ephemeral=True)
        return False

    @discord.ui.button(label=texts.FORGET_YES, style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[ForgetView]) -> None:
        """Delete, after the answers the conversation is still waiting for: they are stored first."""
        self.stop()

        async def acknowledge() -> None:  # within Discord's 3 seconds; the question stays meanwhile
            await interaction.response.defer()

        async with self.inflight.turn(self.chat.chat_id, acknowledge):
            reply = await self.service.forget(self.chat)
            if interaction.response.is_done():
                await interaction.edit_original_response(content=reply.text, view=None)
            else:
                await interaction.response.edit_message(content=reply.text, view=None)

    @discord.ui.button(label=texts.FORGET_NO, style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[ForgetView]) -> None:
        self.stop()
        await interaction.response.edit_message(content=texts.FORGET_CANCELLED, view=None)

    async def on_timeout(self) -> None:
        with contextlib.suppress(discord.HTTPException):
            await self.asked.edit_original_response(content=texts.FORGET_CANCELLED, view=None)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[ForgetView]
    ) -> None:
        log_failure("the /forget confirmation", error, interaction.token)
        with contextlib.suppress(discord.HTTPException):
            await InteractionReplies(interaction).private(texts.FAILED)
