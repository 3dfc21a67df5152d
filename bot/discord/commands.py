"""blipbot's Discord commands: the slash commands and the "Describe image" message menu.

Each handler turns a Discord interaction into `ChatService` calls on the conversation of that user
in that channel; `DiscordAnswers` does the shared steps (download, wait, deliver). Slow work is
acknowledged first and bounded by a timeout, and every failure ends in a message, never an endless
"thinking". Mentions are `bot.discord.mentions`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import discord
from discord import app_commands

from bot.core import texts
from bot.core.preferences import ALT_TEXT_RANGE
from bot.core.service import ChatService
from bot.core.types import ChatRef, Reply
from bot.discord.answers import DiscordAnswers, Replies
from bot.discord.checks import DiscordCheckCommands
from bot.discord.forget import ForgetView
from bot.discord.help import HELP, HELP_MENTIONS
from bot.discord.inflight import InFlight
from bot.discord.replies import (
    InteractionReplies,
    attachment_problem,
    attachment_source,
    describe_error,
    log_failure,
    message_sources,
    without_secrets,
)
from bot.discord.settings import DiscordSettingsCommands

log = logging.getLogger(__name__)

PLATFORM = "discord"
DESCRIBE_MENU = "Describe image"
#: Discord's error code for an interaction it no longer knows (not acknowledged within 3 seconds).
UNKNOWN_INTERACTION = 10062
#: /alt's length option; Discord's client refuses other numbers before the command is sent.
AltLength = app_commands.Range[int, ALT_TEXT_RANGE[0], ALT_TEXT_RANGE[1]]
#: How a request is acknowledged while it waits for its turn: thinking for everyone to see (answers),
#: thinking only the user sees (settings and the like), or no turn at all (it touches no conversation).
Wait = Literal["public", "private"] | None
Handler = Callable[[InteractionReplies], Awaitable[None]]


def chat_ref(channel_id: int | None, user_id: int) -> ChatRef:
    """One conversation per channel (or DM) and user, so people in a channel never mix photos."""
    return ChatRef(platform=PLATFORM, chat_id=f"{channel_id}:{user_id}", user_id=str(user_id))


class DiscordCommands:
    """The handlers, bound to one service; `register` adds them to a command tree."""

    def __init__(
        self,
        service: ChatService,
        answers: DiscordAnswers,
        inflight: InFlight,
        *,
        fetch: Callable[[str], Awaitable[bytes]],
        max_attachment_bytes: int,
        mentions: bool = False,
    ) -> None:
        self.service = service
        self.fetch = fetch  # downloads an embed's picture from Discord's media proxy
        self.max_attachment_bytes = max_attachment_bytes
        self.answers = answers
        self.inflight = inflight
        self.mentions = mentions

    def register(self, tree: app_commands.CommandTree) -> None:
        tree.error(self.on_tree_error)

        @tree.command(name="describe", description="Describe a picture")
        @app_commands.describe(
            image="The picture to describe", detail="Describe it in full, with any text in it read out"
        )
        async def describe(
            interaction: discord.Interaction, image: discord.Attachment, detail: bool = False
        ) -> None:
            await self._run(interaction, lambda replies: self.describe(interaction, replies, image, detail))

        @tree.command(name="ask", description="Ask a question about your last picture, or a new one")
        @app_commands.describe(question="What you want to know", image="A new picture to ask about")
        async def ask(
            interaction: discord.Interaction, question: str, image: discord.Attachment | None = None
        ) -> None:
            await self._run(interaction, lambda replies: self.ask(interaction, replies, question, image))

        @tree.command(name="read", description="Read out the text in your last picture, or a new one")
        @app_commands.describe(image="A new picture to read")
        async def read(interaction: discord.Interaction, image: discord.Attachment | None = None) -> None:
            await self._run(interaction, lambda replies: self.read(interaction, replies, image))

        @tree.command(name="alt", description="Alt text for your last picture, or a new one")
        @app_commands.describe(
            image="A new picture to write alt text for",
            length="The most characters alt text may have, kept for next time",
        )
        async def alt(
            interaction: discord.Interaction,
            image: discord.Attachment | None = None,
            length: AltLength | None = None,
        ) -> None:
            await self._run(interaction, lambda replies: self.alt(interaction, replies, image, length))

        @tree.context_menu(name=DESCRIBE_MENU)
        async def describe_message(interaction: discord.Interaction, message: discord.Message) -> None:
            await self._run(interaction, lambda replies: self.describe_message(interaction, replies, message))

        @tree.command(name="reset", description="Start over with no current picture")
        async def reset(interaction: discord.Interaction) -> None:
            await self._run(
                interaction,
                lambda replies: self.simple(replies, self.service.reset(self.chat(interaction))),
                wait="private",
            )

        @tree.command(name="forget", description="Delete everything stored for you in this channel")
        async def forget(interaction: discord.Interaction) -> None:
            # Only the question: the deletion waits its turn when Yes is pressed (ForgetView).
            await self._run(interaction, lambda replies: self.confirm_forget(interaction), wait=None)

        @tree.command(name="privacy", description="What I store and for how long")
        async def privacy(interaction: discord.Interaction) -> None:
            await self._run(
                interaction, lambda replies: replies.private(self.service.privacy().text), wait=None
            )

        @tree.command(name="help", description="How to use me")
        async def help_(interaction: discord.Interaction) -> None:
            text = HELP + ("\n" + HELP_MENTIONS if self.mentions else "")
            await self._run(interaction, lambda replies: replies.private(text), wait=None)

        DiscordCheckCommands(
            self.service, self.answers, self._run, self.chat, max_attachment_bytes=self.max_attachment_bytes
        ).register(tree)
        private_run = functools.partial(self._run, wait="private")
        DiscordSettingsCommands(self.service, private_run, self.chat).register(tree)

    # -- the commands -----------------------------------------------------------------

    @staticmethod
    def chat(interaction: discord.Interaction) -> ChatRef:
        return chat_ref(interaction.channel_id, interaction.user.id)

    async def describe(
        self,
        interaction: discord.Interaction,
        replies: InteractionReplies,
        image: discord.Attachment,
        detail: bool,
    ) -> None:
        problem = attachment_problem(image, self.max_attachment_bytes)
        if problem is not None:
            await replies.private(problem)  # before deferring: Discord shows it to the user alone
            return
        await replies.defer()
        chat = self.chat(interaction)
        source = attachment_source(image, self.max_attachment_bytes)
        # Without the detail option, the person's own /detail setting applies.
        work = self.answers.describe(chat, source, replies, detail="full" if detail else None)
        await self.answers.deliver(chat, replies, await self.answers.bounded(work))

    async def ask(
        self,
        interaction: discord.Interaction,
        replies: InteractionReplies,
        question: str,
        image: discord.Attachment | None,
    ) -> None:
        if image is not None and (problem := attachment_problem(image, self.max_attachment_bytes)):
            await replies.private(problem)
            return
        await replies.defer()
        chat = self.chat(interaction)
        if image is None:
            work = self.service.ask(chat, question, on_queued=replies.position)
        else:
            source = attachment_source(image, self.max_attachment_bytes)
            work = self.answers.describe(chat, source, replies, question=question)
        await self.answers.deliver(chat, replies, await self.answers.bounded(work))

    async def read(
        self, interaction: discord.Interaction, replies: InteractionReplies, image: discord.Attachment | None
    ) -> None:
        """The text in the picture, by OCR; an attached picture becomes the current one."""
        if image is not None and (problem := attachment_problem(image, self.max_attachment_bytes)):
            await replies.private(problem)
            return
        await replies.defer()  # reading can take a few seconds (it tries each way round)
        chat = self.chat(interaction)
        if image is None:
            work = self.service.read_text(chat)
        else:
            # The core answers a reading request about a new photo with OCR alone, never the model.
            source = attachment_source(image, self.max_attachment_bytes)
            work = self.answers.describe(chat, source, replies, question=texts.READ_QUESTION)
        await self.answers.deliver(chat, replies, await self.answers.bounded(work))

    async def alt(
        self,
        interaction: discord.Interaction,
        replies: InteractionReplies,
        image: discord.Attachment | None,
        length: int | None,
    ) -> None:
        """Alt text of at most the person's length; `length` alone only changes that length."""
        if image is not None and (problem := attachment_problem(image, self.max_attachment_bytes)):
            await replies.private(problem)
            return
        chat = self.chat(interaction)
        if length is not None:
            changed = await self.service.set_preference(chat, "alt_text_chars", str(length))
            if changed.is_error or image is None:
                await replies.private(changed.text)
                return
        await replies.defer()
        await self.answers.deliver(chat, replies, await self.answers.bounded(self._alt(chat, replies, image)))

    async def _alt(
        self, chat: ChatRef, replies: InteractionReplies, image: discord.Attachment | None
    ) -> Reply:
        if image is not None:  # one model pass, the alt text: the photo is kept without a description
            source = attachment_source(image, self.max_attachment_bytes)
            if (refused := await self.answers.keep_as_current(chat, source)) is not None:
                return refused
        return await self.service.alt_text(chat, on_queued=replies.position)

    async def describe_message(
        self, interaction: discord.Interaction, replies: InteractionReplies, message: discord.Message
    ) -> None:
        sources = message_sources(message, self.fetch, self.max_attachment_bytes)
        if not sources:
            await replies.private(texts.NO_IMAGES_IN_MESSAGE)
            return
        await replies.defer()
        await self.answers.describe_all(self.chat(interaction), replies, sources, message_id=str(message.id))

    async def confirm_forget(self, interaction: discord.Interaction) -> None:
        view = ForgetView(self.service, self.inflight, self.chat(interaction), interaction)
        await interaction.response.send_message(
            texts.FORGET_CONFIRM, view=view, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    async def simple(self, replies: Replies, work: Awaitable[Reply]) -> None:
        """A quick command: no deferral, the answer only the user sees."""
        await replies.private((await work).text)

    # -- the steps --------------------------------------------------------------------

    async def _run(
        self, interaction: discord.Interaction, handler: Handler, *, wait: Wait = "public"
    ) -> None:
        """Run a handler in its conversation's turn (see `InFlight.turn`), and apologise if it fails."""
        replies = InteractionReplies(interaction)
        interaction.extras["replies"] = replies  # for on_tree_error, which must know what was sent
        if self.inflight.closing:
            await replies.private(texts.STOPPING)
            return
        async with self._turn(interaction, replies, wait):  # the apology counts as in flight too
            try:
                if self.inflight.closing:  # it waited its turn while the adapter began to stop
                    await replies.private(texts.STOPPING)
                    return
                await handler(replies)
            except Exception as error:
                await self._apologise(interaction, replies, error)

    def _turn(
        self, interaction: discord.Interaction, replies: InteractionReplies, wait: Wait
    ) -> contextlib.AbstractAsyncContextManager[None]:
        if wait is None:
            return self.inflight.track()

        async def acknowledge() -> None:  # within Discord's 3 seconds, however long the wait
            await replies.defer(private=wait == "private")

        return self.inflight.turn(self.chat(interaction).chat_id, acknowledge)

    async def on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Failures before a handler runs (an unknown command, an option that would not convert)."""
        replies = interaction.extras.get("replies") or InteractionReplies(interaction)
        await self._apologise(interaction, replies, getattr(error, "original", error))

    async def _apologise(
        self, interaction: discord.Interaction, replies: InteractionReplies, error: BaseException
    ) -> None:
        """Log what failed (without the interaction's token) and tell the user, privately."""
        command = interaction.command.name if interaction.command else "unknown command"
        if isinstance(error, discord.NotFound) and error.code == UNKNOWN_INTERACTION:
            # Acknowledged too late: Discord has dropped the interaction, so no reply can reach anyone.
            log.warning("discord command %r for user %s expired unanswered", command, interaction.user.id)
            return
        log_failure(f"discord command {command!r} for user {interaction.user.id}", error, interaction.token)
        try:
            await replies.private(texts.FAILED)
        except discord.HTTPException as failure:
            reason = without_secrets(describe_error(failure), interaction.token)
            log.warning("could not tell the user that the command failed: %s", reason)
