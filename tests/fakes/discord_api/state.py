"""The one-guild world FakeDiscord serves (users, channels, messages, synced commands) and its record
of what the bot sent; plain data and payload factories, so REST, gateway and CDN share one truth.
"""

from __future__ import annotations

import itertools
import mimetypes
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tests.fakes.discord_api.cdn import CDN_PREFIX, FakeCdn

API_PREFIX = "/api/v10"
GATEWAY_PATH = "/gateway-ws"
DISCORD_EPOCH_MS = 1_420_070_400_000
HEARTBEAT_INTERVAL_MS = 41_250
ACK_DEADLINE_SECONDS = 3.0  # Discord forgets an interaction that is not answered within 3 s.
EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7
# @everyone in the fake guild may view, send, embed, attach, read history and use app commands.
EVERYONE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31)


class FakeFile(NamedTuple):
    field: str
    filename: str
    content_type: str
    data: bytes


class Call(NamedTuple):
    """One REST or CDN request as the fake received it; `path` has no /api/v10 prefix and no query."""

    method: str
    path: str
    json: Any
    files: list[FakeFile]


@dataclass
class PendingInteraction:
    """An interaction dispatched to the bot; its callback must arrive before `deadline` (monotonic)."""

    token: str
    channel_id: str
    deadline: float
    acked: bool = False
    original_id: str | None = None
    called_at: float | None = None  # when its first callback arrived (monotonic), accepted or not


def now() -> str:
    return datetime.now(UTC).isoformat()


class DiscordState:
    """The guild, its channel, DMs, users, messages and commands, plus everything recorded so far.

    `url` is empty until the server listens; attachments need it for their CDN address.
    """

    token = "fake-token"

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS,
        ack_deadline_seconds: float = ACK_DEADLINE_SECONDS,
    ) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ack_deadline_seconds = ack_deadline_seconds
        self._ids = itertools.count(1)
        self.users: dict[str, dict] = {}
        self.application_id = int(self.snowflake())
        self.bot_user = self.user("blipbot", bot=True, user_id=str(self.application_id))
        self.owner_user = self.user("owner")
        self.default_user = self.user("alice")
        self.guild_id = int(self.snowflake())
        self.channel_id = int(self.snowflake())
        self.calls: list[Call] = []
        self.unhandled: list[Call] = []
        self.gateway_received: list[dict] = []
        self.identify: dict | None = None
        self.commands: dict[int | None, list[dict]] = {}
        self.command_puts = 0
        self.messages: dict[str, dict] = {}
        self.channels: dict[str, dict] = {str(self.channel_id): self._text_channel()}
        self._dm_channels: dict[str, dict] = {}
        self.interactions: dict[str, PendingInteraction] = {}
        self.cdn = FakeCdn()
        self.url = ""

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://") + GATEWAY_PATH

    # payload factories

    def snowflake(self) -> str:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (next(self._ids) & 0x3FFFFF))

    def user(self, username: str, *, bot: bool = False, user_id: str | None = None) -> dict:
        user = {
            "id": user_id or self.snowflake(),
            "username": username,
            "discriminator": "0",
            "global_name": username.title(),
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }
        self.users[user["id"]] = user
        return user

    def member(self, user: dict, *, with_user: bool = True) -> dict:
        member = {
            "roles": [],
            "joined_at": now(),
            "nick": None,
            "avatar": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "permissions": str(EVERYONE_PERMISSIONS),
        }
        return {"user": user, **member} if with_user else member

    def dm_channel(self, user: dict) -> dict:
        """The DM channel between the bot and `user`, the same one each time."""
        if user["id"] not in self._dm_channels:
            channel = {
                "id": self.snowflake(),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [user],
            }
            self._dm_channels[user["id"]] = channel
            self.channels[channel["id"]] = channel
        return self._dm_channels[user["id"]]

    def add_attachment(
        self,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> dict:
        """Serve `data` from the fake CDN and return the attachment object Discord would send."""
        if not self.url:
            raise RuntimeError("start the fake (async with FakeDiscord()) before adding attachments")
        content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        attachment_id = self.snowflake()
        self.cdn.store(attachment_id, data, content_type)
        url = f"{self.url}{CDN_PREFIX}{self.channel_id}/{attachment_id}/{filename}"
        attachment = {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }
        if width is not None and height is not None:
            attachment.update(width=width, height=height)
        return attachment

    def message(
        self,
        channel_id: int | str,
        content: str,
        author: dict | None = None,
        *,
        attachments: Iterable[dict] = (),
        mentions: Iterable[dict] = (),
        referenced_message: dict | None = None,
    ) -> dict:
        """A message object; a guild message when `channel_id` is the guild's channel, else a DM."""
        author = author or self.default_user
        message: dict[str, Any] = {
            "id": self.snowflake(),
            "channel_id": str(channel_id),
            "author": author,
            "content": content,
            "timestamp": now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": list(mentions),
            "mention_roles": [],
            "attachments": list(attachments),
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if self.channels.get(str(channel_id), {}).get("guild_id"):
            message.update(guild_id=str(self.guild_id), member=self.member(author, with_user=False))
        if referenced_message is not None:
            message.update(
                type=19,
                referenced_message=referenced_message,
                message_reference={
                    "type": 0,
                    "message_id": referenced_message["id"],
                    "channel_id": referenced_message["channel_id"],
                    **({"guild_id": message["guild_id"]} if "guild_id" in message else {}),
                },
            )
        return message

    def synced_command(self, name: str, command_type: int, guild: bool) -> dict | None:
        """The command the bot synced under `name`, the guild's copy first; None if never synced."""
        scopes = [self.guild_id, None] if guild else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == command_type:
                    return command
        return None

    def _text_channel(self) -> dict:
        return {
            "id": str(self.channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
