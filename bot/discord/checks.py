"""/scan, /light and /colour on Discord: one quick check on the last picture, or an attached one.

They answer like /read: publicly, about the person's current picture in this channel, and an
attached picture becomes the current one first. The checks need no model, so an attached picture
is only kept (as /alt keeps one), never described: the answer is the check alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from bot.core.service import ChatService
from bot.core.types import ChatRef, Reply
from bot.discord.answers import DiscordAnswers
from bot.discord.replies import InteractionReplies, attachment_problem, attachment_source

Handler = Callable[[InteractionReplies], Awaitable[None]]
Run = Callable[[discord.Interaction, Handler], Awaitable[None]]
#: One check on the chat's current picture (`ChatService.scan`, `.light` or `.colour`).
Check = Callable[[ChatRef], Awaitable[Reply]]


class DiscordCheckCommands:
    """The check commands, bound to one service; `run` is the adapter's guard for every command."""

    def __init__(
        self,
        service: ChatService,
        answers: DiscordAnswers,
        run: Run,
        chat: Callable[[discord.Interaction], ChatRef],
        *,
        max_attachment_bytes: int,
    ) -> None:
        self.service = service
        self.answers = answers
        self.run = run
        self.chat = chat
        self.max_attachment_bytes = max_attachment_bytes

    def register(self, tree: app_commands.CommandTree) -> None:
        @tree.command(
            name="scan", description="Look for a QR code or barcode in your last picture, or a new one"
        )
        @app_commands.describe(image="A new picture to scan")
        async def scan(interaction: discord.Interaction, image: discord.Attachment | None = None) -> None:
            await self.run(interaction, lambda replies: self.check(interaction, replies, image, "scan"))

        @tree.command(name="light", description="How much light there is in your last picture, or a new one")
        @app_commands.describe(image="A new picture to check")
        async def light(interaction: discord.Interaction, image: discord.Attachment | None = None) -> None:
            await self.run(interaction, lambda replies: self.check(interaction, replies, image, "light"))

        @tree.command(name="colour", description="The main colours in your last picture, or a new one")
        @app_commands.describe(image="A new picture to check")
        async def colour(interaction: discord.Interaction, image: discord.Attachment | None = None) -> None:
            await self.run(interaction, lambda replies: self.check(interaction, replies, image, "colour"))

    async def check(
        self,
        interaction: discord.Interaction,
        replies: InteractionReplies,
        image: discord.Attachment | None,
        name: str,
    ) -> None:
        """A refused file is said privately before deferring, as /read does; the answer is public."""
        if image is not None and (problem := attachment_problem(image, self.max_attachment_bytes)):
            await replies.private(problem)
            return
        await replies.defer()  # a thorough scan of a large picture can take a few seconds
        chat = self.chat(interaction)
        checks: dict[str, Check] = {
            "scan": self.service.scan,
            "light": self.service.light,
            "colour": self.service.colour,
        }
        work = self._check(chat, image, checks[name])
        await self.answers.deliver(chat, replies, await self.answers.bounded(work))

    async def _check(self, chat: ChatRef, image: discord.Attachment | None, check: Check) -> Reply:
        if image is not None:  # the check is the answer, so the photo is kept without a description
            source = attachment_source(image, self.max_attachment_bytes)
            if (refused := await self.answers.keep_as_current(chat, source)) is not None:
                return refused
        return await check(chat)
