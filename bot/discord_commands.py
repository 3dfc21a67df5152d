"""blipbot's Discord commands: slash commands, the "Describe image" message menu and mentions.

Each handler turns a Discord interaction (or message) into `ChatService` calls on the conversation of
that user in that channel, and hands the `Reply` to `discord_replies`. Slow work is acknowledged
first and bounded by a timeout, and every failure ends in a message, never an endless "thinking".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord
from discord import app_commands

from bot import texts
from bot.discord_forget import ForgetView
from bot.discord_help import HELP, HELP_MENTIONS
from bot.discord_inflight import InFlight
from bot.discord_replies import (
    ImageSource,
    ImageTooLarge,
    InteractionReplies,
    MessageReplies,
    attachment_problem,
    attachment_source,
    describe_error,
    is_image,
    log_failure,
    message_sources,
    without_secrets,
)
from bot.discord_settings import SettingsCommands
from bot.preferences import ALT_TEXT_RANGE, Detail
from bot.service import ChatService
from bot.types import ChatRef, Reply, ReplyKind, Upload

log = logging.getLogger(__name__)

PLATFORM = "discord"
DESCRIBE_MENU = "Describe image"
#: /alt's length option; Discord's client refuses other numbers before the command is sent.
AltLength = app_commands.Range[int, ALT_TEXT_RANGE[0], ALT_TEXT_RANGE[1]]


def chat_ref(channel_id: int | None, user_id: int) -> ChatRef:
    """One conversation per channel (or DM) and user, so people in a channel never mix photos."""
    return ChatRef(platform=PLATFORM, chat_id=f"{channel_id}:{user_id}", user_id=str(user_id))


Replies = InteractionReplies | MessageReplies


class DiscordCommands:
    """The handlers, bound to one service; `register` adds them to a command tree."""

    def __init__(
        self,
        service: ChatService,
        *,
        fetch: Callable[[str], Awaitable[bytes]],
        max_attachment_bytes: int,
        answer_timeout_s: float,
        mentions: bool = False,
    ) -> None:
        self.service = service
        self.fetch = fetch  # downloads an embed's picture from Discord's media proxy
        self.max_attachment_bytes = max_attachment_bytes
        self.answer_timeout_s = answer_timeout_s
        self.mentions = mentions
        self.inflight = InFlight()
        self.closing = False

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
                interaction, lambda replies: self.simple(replies, self.service.reset(self.chat(interaction)))
            )

        @tree.command(name="forget", description="Delete everything stored for you in this channel")
        async def forget(interaction: discord.Interaction) -> None:
            await self._run(interaction, lambda replies: self.confirm_forget(interaction))

        @tree.command(name="privacy", description="What I store and for how long")
        async def privacy(interaction: discord.Interaction) -> None:
            await self._run(interaction, lambda replies: replies.private(self.service.privacy().text))

        @tree.command(name="help", description="How to use me")
        async def help_(interaction: discord.Interaction) -> None:
            text = HELP + ("\n" + HELP_MENTIONS if self.mentions else "")
            await self._run(interaction, lambda replies: replies.private(text))

        SettingsCommands(self.service, self._run, self.chat).register(tree)

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
        work = self._describe(chat, source, replies, detail="full" if detail else None)
        await self._deliver(chat, replies, await self._bounded(work))

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
            work = self._describe(chat, source, replies, question=question)
        await self._deliver(chat, replies, await self._bounded(work))

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
            work = self._describe(chat, source, replies, question=texts.READ_QUESTION)
        await self._deliver(chat, replies, await self._bounded(work))

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
        await self._deliver(chat, replies, await self._bounded(self._alt(chat, replies, image)))

    async def _alt(
        self, chat: ChatRef, replies: InteractionReplies, image: discord.Attachment | None
    ) -> Reply:
        if image is not None:
            # Kept (and checked) as the current photo without a description: one model pass, the alt text.
            data = await self._download(attachment_source(image, self.max_attachment_bytes))
            if isinstance(data, Reply):
                return data
            refused = await self.service.add_photo(chat, data)
            if refused is not None:
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
        await self._describe_all(self.chat(interaction), replies, sources, message_id=str(message.id))

    async def confirm_forget(self, interaction: discord.Interaction) -> None:
        view = ForgetView(self.service, self.inflight, self.chat(interaction), interaction)
        await interaction.response.send_message(
            texts.FORGET_CONFIRM, view=view, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    async def simple(self, replies: Replies, work: Awaitable[Reply]) -> None:
        """A quick command: no deferral, the answer only the user sees."""
        await replies.private((await work).text)

    # -- mentions (discord.message_content) -------------------------------------------

    async def on_message(self, message: discord.Message, me: discord.ClientUser | None) -> None:
        """Answer a message that mentions the bot, is a DM, or replies to one of its answers."""
        if me is None or message.author.bot or self.closing:
            return
        chat = chat_ref(message.channel.id, message.author.id)
        reference = message.reference.message_id if message.reference else None
        mentioned = any(user.id == me.id for user in message.mentions)
        replying = reference is not None and await self.service.has_photo_for(chat, str(reference))
        if not (mentioned or message.guild is None or replying):
            return
        question = message.content.replace(f"<@{me.id}>", "").replace(f"<@!{me.id}>", "").strip()
        replies = MessageReplies(message)
        async with self.inflight.track():
            try:
                async with message.channel.typing():
                    await self._answer_message(chat, replies, message, question, reference)
            except Exception as error:
                log_failure("answering a mention", error)
                with contextlib.suppress(discord.HTTPException):
                    await replies.private(texts.FAILED)

    async def _answer_message(
        self,
        chat: ChatRef,
        replies: MessageReplies,
        message: discord.Message,
        question: str,
        reference: int | None,
    ) -> None:
        sources = [
            attachment_source(a, self.max_attachment_bytes) for a in message.attachments if is_image(a)
        ]
        if sources:
            await self._describe_all(chat, replies, sources, message_id=str(message.id), question=question)
        elif message.attachments and not question:
            await replies.private(texts.NOT_AN_IMAGE)
        else:
            about = str(reference) if reference is not None else None
            work = self.service.ask(chat, question, about_message_id=about, on_queued=replies.position)
            await self._deliver(chat, replies, await self._bounded(work))

    # -- the steps --------------------------------------------------------------------

    async def _run(
        self, interaction: discord.Interaction, handler: Callable[[InteractionReplies], Awaitable[None]]
    ) -> None:
        replies = InteractionReplies(interaction)
        interaction.extras["replies"] = replies  # for on_tree_error, which must know what was sent
        if self.closing:
            await replies.private(texts.STOPPING)
            return
        async with self.inflight.track():  # the apology for a failure counts as in flight too
            try:
                await handler(replies)
            except Exception as error:
                await self._apologise(interaction, replies, error)

    async def _describe_all(
        self,
        chat: ChatRef,
        replies: Replies,
        sources: list[ImageSource],
        *,
        message_id: str,
        question: str = "",
    ) -> None:
        if len(sources) == 1:
            work = self._describe(chat, sources[0], replies, question=question, message_id=message_id)
            await self._deliver(chat, replies, await self._bounded(work))
            return
        answers: dict[int, Reply] = {}
        uploads: dict[int, Upload] = {}
        for index, source in enumerate(sources):
            data = await self._download(source)
            if isinstance(data, Reply):
                answers[index] = data
            else:
                uploads[index] = Upload(data, message_id)
        # All pictures at once, so the worker answers them in shared batches.
        work = self.service.describe_photos(
            chat, list(uploads.values()), question=question or None, on_queued=replies.position
        )
        try:
            answers.update(zip(uploads, await asyncio.wait_for(work, self.answer_timeout_s), strict=True))
        except TimeoutError:
            answers.update(dict.fromkeys(uploads, Reply(texts.TIMEOUT, ReplyKind.ERROR)))
        for index in range(len(sources)):
            reply = answers[index]
            text = texts.numbered(index + 1, len(sources), reply.text, noun="Image")
            await self._deliver(chat, replies, reply, text)

    async def _describe(
        self,
        chat: ChatRef,
        source: ImageSource,
        replies: Replies,
        *,
        question: str = "",
        detail: Detail | None = None,
        message_id: str | None = None,
    ) -> Reply:
        """Download a picture and hand it to the core; `detail` None means the person's own setting."""
        data = await self._download(source)
        if isinstance(data, Reply):
            return data
        return await self.service.describe_photo(
            chat,
            data,
            question=question or None,
            message_id=message_id,
            on_queued=replies.position,
            detail=detail,
        )

    @staticmethod
    async def _download(source: ImageSource) -> bytes | Reply:
        """The picture's bytes, or the Reply that says why they could not be had."""
        if source.problem is not None:
            return Reply(source.problem, ReplyKind.ERROR)
        try:
            return await source.download()
        except ImageTooLarge as error:
            return Reply(str(error), ReplyKind.ERROR)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as error:
            log.warning("could not download %s: %s", source.name, type(error).__name__)
            return Reply(texts.DOWNLOAD_FAILED, ReplyKind.ERROR)

    async def _bounded(self, work: Awaitable[Reply]) -> Reply:
        """The reply, or an apology once the answer timeout (a little over the model's) has passed."""
        try:
            return await asyncio.wait_for(work, self.answer_timeout_s)
        except TimeoutError:
            return Reply(texts.TIMEOUT, ReplyKind.ERROR)

    async def _deliver(self, chat: ChatRef, replies: Replies, reply: Reply, text: str | None = None) -> None:
        text = reply.text if text is None else text
        if reply.kind is not ReplyKind.ANSWER:
            await replies.private(text)
            return
        sent = await replies.public(text)
        for note in reply.voice:
            sent.append(await replies.voice_note(note))
        if reply.image_id is not None:
            for message_id in sent:  # a reply to any of these asks about the same picture
                await self.service.link_reply(chat, str(message_id), reply.image_id)

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
        log_failure(f"discord command {command!r} for user {interaction.user.id}", error, interaction.token)
        try:
            await replies.private(texts.FAILED)
        except discord.HTTPException as failure:
            reason = without_secrets(describe_error(failure), interaction.token)
            log.warning("could not tell the user that the command failed: %s", reason)
