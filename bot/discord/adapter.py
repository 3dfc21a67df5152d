"""The Discord adapter: a discord.py client whose slash commands and menus call the shared core.

`blipbot run` finds `is_configured` and `build_adapter`; both go by whether `discord.token` is set.
`start` logs in, registers the commands when they changed and returns once the gateway session is
READY; `stop` lets the answers being worked on finish, then closes the connection. Reconnects are
discord.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.core.chunks import split_text
from bot.core.errors import ConfigError
from bot.core.service import ChatService
from bot.core.types import ChatRef, Reply
from bot.discord.answers import DiscordAnswers
from bot.discord.commands import DiscordCommands
from bot.discord.config import DiscordConfig
from bot.discord.inflight import InFlight
from bot.discord.mentions import MentionHandler
from bot.discord.replies import MESSAGE_LIMIT_CHARS, NO_MENTIONS, log_failure
from bot.discord.sync import sync_commands

if TYPE_CHECKING:
    from bot.app.config import Settings

log = logging.getLogger(__name__)

#: The answer timeout is the model's request timeout plus this, for downloads and sending.
ANSWER_TIMEOUT_MARGIN_S = 10.0
#: How long `start` waits for Discord's READY before it gives up.
READY_TIMEOUT_S = 60.0
#: How long `stop` waits for the connection to close after the client was told to close.
CLOSE_TIMEOUT_S = 10.0


def is_configured(settings: Settings) -> bool:
    """Whether Discord is to be started; `blipbot run` asks before it loads the model."""
    return settings.discord.token is not None


def build_adapter(settings: Settings, service: ChatService) -> DiscordAdapter | None:
    if not is_configured(settings):
        return None
    timeout_s = settings.inference.request_timeout_s + ANSWER_TIMEOUT_MARGIN_S
    return DiscordAdapter(settings.discord, service, answer_timeout_s=timeout_s)


def intents_for(config: DiscordConfig) -> discord.Intents:
    """Slash commands need no intent; messages are read only when mentions are switched on."""
    intents = discord.Intents.none()
    intents.guilds = True
    if config.message_content:
        intents.guild_messages = intents.dm_messages = intents.message_content = True
    return intents


class BlipClient(discord.Client):
    """The connection: the command tree, its sync in `setup_hook`, and the message listener."""

    def __init__(self, config: DiscordConfig, service: ChatService, *, answer_timeout_s: float) -> None:
        super().__init__(intents=intents_for(config), allowed_mentions=NO_MENTIONS)
        self.config = config
        self.tree = app_commands.CommandTree(self)
        self.inflight = InFlight()
        self.answers = DiscordAnswers(service, answer_timeout_s=answer_timeout_s)
        self.handlers = DiscordCommands(
            service,
            self.answers,
            self.inflight,
            fetch=self.http.get_from_cdn,
            max_attachment_bytes=config.max_attachment_bytes,
            mentions=config.message_content,
        )
        self.handlers.register(self.tree)
        self.mention_handler = MentionHandler(
            service, self.answers, self.inflight, max_attachment_bytes=config.max_attachment_bytes
        )
        self.session_ready = asyncio.Event()

    async def setup_hook(self) -> None:
        # Runs after login, before the gateway connects: the application id is known by now.
        assert self.application_id is not None
        await sync_commands(self.tree, self.application_id, self.config.guild_ids, self.config.state_dir)

    async def on_connect(self) -> None:
        # READY arrived: interactions flow from here on. (on_ready would wait for every guild too.)
        self.session_ready.set()

    async def on_message(self, message: discord.Message) -> None:
        if self.config.message_content:
            await self.mention_handler.on_message(message, self.user)


class DiscordAdapter:
    name = "discord"

    def __init__(self, config: DiscordConfig, service: ChatService, *, answer_timeout_s: float) -> None:
        if config.token is None:
            raise ValueError("discord.token is not set")
        self.config = config
        self.service = service
        self.answer_timeout_s = answer_timeout_s
        self.client: BlipClient | None = None
        self._connection: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Log in, sync the commands if they changed, and return once Discord's session is ready."""
        assert self.config.token is not None
        client = BlipClient(self.config, self.service, answer_timeout_s=self.answer_timeout_s)
        self.client = client
        try:
            await client.login(self.config.token.get_secret_value())
        except BaseException as error:
            await client.close()
            self.client = None
            if isinstance(error, discord.LoginFailure):
                raise ConfigError("invalid config value for discord.token: Discord rejected it") from None
            raise
        self._connection = asyncio.create_task(client.connect(), name="blipbot-discord-gateway")
        ready = asyncio.create_task(client.session_ready.wait())
        await asyncio.wait(
            {ready, self._connection}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if ready.done():
            self._connection.add_done_callback(_report_lost_connection)
            log.info("connected to Discord as %s (application %s)", client.user, client.application_id)
            return
        ready.cancel()
        failure = self._connection.exception() if self._connection.done() else None
        if isinstance(failure, discord.PrivilegedIntentsRequired):
            log.error(
                "discord.message_content is on, but the Message Content intent is not enabled for this "
                "bot in the Discord developer portal (Bot, Privileged Gateway Intents)"
            )
        await self._close()
        if failure is not None:
            raise failure
        raise TimeoutError(f"Discord did not start a session within {READY_TIMEOUT_S:.0f} seconds")

    async def stop(self) -> None:
        """Take no new work, let answers being worked on finish, then close the connection."""
        if self.client is None:
            return
        self.client.inflight.closing = True
        if not await self.client.inflight.wait_idle(self.answer_timeout_s):
            log.warning("stopping with %d discord answers unfinished", self.client.inflight.count)
        await self._close()

    async def deliver_late(self, chat: ChatRef, reply: Reply, reply_to: str | None) -> None:
        """Post a reply owed from before a restart in its channel (the interaction is long gone)."""
        if self.client is None:
            raise RuntimeError("discord is not running")
        channel = self.client.get_partial_messageable(int(chat.chat_id.split(":")[0]))
        reference = None
        if reply_to is not None and reply_to.isdigit():
            reference = discord.MessageReference(
                message_id=int(reply_to), channel_id=channel.id, fail_if_not_exists=False
            )
        for index, piece in enumerate(split_text(reply.text, MESSAGE_LIMIT_CHARS)):
            await channel.send(
                piece, reference=reference if index == 0 else None, allowed_mentions=NO_MENTIONS
            )

    async def _close(self) -> None:
        assert self.client is not None
        await self.client.close()
        if self._connection is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._connection, CLOSE_TIMEOUT_S)
        self.client = None
        self._connection = None


def _report_lost_connection(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log_failure("the Discord connection", task.exception())  # type: ignore[arg-type]
