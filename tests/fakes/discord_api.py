"""A fake Discord (REST API, gateway websocket and attachment CDN on one local aiohttp server).

The real discord.py client talks to it once `patch_discord(fake)` points `Route.BASE` and the default
gateway at it; tests push gateway events built by the factories and assert on `fake.calls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import mimetypes
import re
import secrets
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import yarl
from aiohttp import WSMsgType, web
from discord.gateway import DiscordWebSocket
from discord.http import Route

API_PREFIX = "/api/v10"
CDN_PREFIX = "/cdn/attachments/"
DISCORD_EPOCH_MS = 1_420_070_400_000
HEARTBEAT_INTERVAL_MS = 41_250
ACK_DEADLINE_SECONDS = 3.0  # Discord forgets an interaction that is not answered within 3 s.
ATTACHMENT_SIZE_LIMIT_BYTES = 10 * 1024 * 1024
GUILD_MESSAGES_INTENT = 1 << 9
DIRECT_MESSAGES_INTENT = 1 << 12
MESSAGE_CONTENT_INTENT = 1 << 15
EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7
# @everyone in the fake guild may view, send, embed, attach, read history and use app commands.
EVERYONE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31)
OPTION_TYPE_ATTACHMENT = 11
OPTION_TYPE_USER = 6


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
class _PendingInteraction:
    token: str
    channel_id: str
    deadline: float
    acked: bool = False
    original_id: str | None = None


@dataclass(eq=False)
class _GatewaySession:
    ws: web.WebSocketResponse
    deflate: Any = None  # a zlib compressobj when the client asked for zlib-stream
    seq: int = 0
    identified: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, op: int, d: Any = None, t: str | None = None) -> None:
        async with self.lock:  # keeps sequence numbers and the zlib stream in send order
            if op == 0:
                self.seq += 1
            text = json.dumps({"op": op, "d": d, "s": self.seq if op == 0 else None, "t": t})
            if self.deflate is None:
                await self.ws.send_str(text)
            else:
                data = self.deflate.compress(text.encode()) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)


def _json(body: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly "application/json" (no charset).
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, dict):
        return OPTION_TYPE_ATTACHMENT if "filename" in value else OPTION_TYPE_USER
    return 3


class FakeDiscord:
    """An async context manager serving a one-guild Discord on 127.0.0.1 at a random port."""

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
        self._users: dict[str, dict] = {}
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
        self._channels: dict[str, dict] = {str(self.channel_id): self._text_channel()}
        self._dm_channels: dict[str, dict] = {}
        self._attachments: dict[str, tuple[bytes, str]] = {}
        self._interactions: dict[str, _PendingInteraction] = {}
        self._sessions: list[_GatewaySession] = []
        self._claimed: set[int] = set()
        self._new_call = asyncio.Condition()
        self._identified = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._routes = [
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway),
            ("GET", r"/users/@me", lambda m, c: _json(self.bot_user)),
            ("GET", r"/(?:oauth2/)?applications/@me", lambda m, c: _json(self._application())),
            ("PUT", r"/applications/(\d+)(?:/guilds/(\d+))?/commands", self._put_commands),
            ("GET", r"/applications/(\d+)(?:/guilds/(\d+))?/commands", self._get_commands),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", self._interaction_callback),
            ("POST", r"/webhooks/(\d+)/([^/]+)", self._followup),
            ("GET", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._webhook_message),
            ("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._webhook_message),
            ("DELETE", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._webhook_message),
            ("GET", r"/channels/(\d+)", self._get_channel),
            ("POST", r"/channels/(\d+)/messages", self._channel_message),
            ("GET", r"/channels/(\d+)/messages/(\d+)", self._channel_message),
            ("PATCH", r"/channels/(\d+)/messages/(\d+)", self._channel_message),
            ("DELETE", r"/channels/(\d+)/messages/(\d+)", self._channel_message),
            ("POST", r"/channels/(\d+)/typing", lambda m, c: web.Response(status=204)),
            ("PUT", r"/channels/\d+/messages/\d+/reactions/[^/]+/@me", lambda m, c: web.Response(status=204)),
            ("POST", r"/users/@me/channels", self._create_dm),
        ]

    # lifecycle

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_get("/gateway-ws", self._gateway)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Open websockets would hold up the server's shutdown, so close them first.
        for session in list(self._sessions):
            await session.ws.close(code=1000)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/gateway-ws"

    async def wait_until_ready(self, timeout: float = 10.0) -> None:
        """Wait until a client has identified and been sent READY and GUILD_CREATE."""
        await asyncio.wait_for(self._identified.wait(), timeout)

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
        self._users[user["id"]] = user
        return user

    def member(self, user: dict, *, with_user: bool = True) -> dict:
        member = {
            "roles": [],
            "joined_at": _now(),
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
            self._channels[channel["id"]] = channel
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
        self._attachments[attachment_id] = (data, content_type)
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
            "timestamp": _now(),
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
        if self._channels.get(str(channel_id), {}).get("guild_id"):
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

    def slash_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: dict | None = None,
        channel_id: int | str | None = None,
        guild: bool = True,
        attachments: Iterable[dict] = (),
    ) -> dict:
        """An INTERACTION_CREATE payload for `/name`. Option types come from the synced command when
        there is one, else from the value: an `add_attachment` dict is an attachment, a `user` dict a user."""
        command = self._synced_command(name, 1, guild)
        declared = {o["name"]: o["type"] for o in (command or {}).get("options", [])}
        resolved: dict[str, dict] = {}
        for attachment in attachments:
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
        sent_options = []
        for option_name, value in (options or {}).items():
            option_type = declared.get(option_name) or _option_type(value)
            if isinstance(value, dict):
                kind = "attachments" if option_type == OPTION_TYPE_ATTACHMENT else "users"
                resolved.setdefault(kind, {})[value["id"]] = value
                if kind == "users" and guild:
                    resolved.setdefault("members", {})[value["id"]] = self.member(value, with_user=False)
                value = value["id"]
            sent_options.append({"name": option_name, "type": option_type, "value": value})
        data: dict[str, Any] = {"name": name, "type": 1, "options": sent_options}
        if resolved:
            data["resolved"] = resolved
        return self._interaction(data, command, user=user, channel_id=channel_id, guild=guild)

    def context_menu(self, name: str, target_message: dict, *, user: dict | None = None) -> dict:
        """An INTERACTION_CREATE payload for the message context menu `name` on `target_message`."""
        guild = "guild_id" in target_message
        data = {
            "name": name,
            "type": 3,
            "target_id": target_message["id"],
            "resolved": {"messages": {target_message["id"]: target_message}},
        }
        command = self._synced_command(name, 3, guild)
        return self._interaction(
            data, command, user=user, channel_id=target_message["channel_id"], guild=guild
        )

    def _interaction(
        self, data: dict, command: dict | None, *, user: dict | None, channel_id: Any, guild: bool
    ) -> dict:
        user = user or self.default_user
        data["id"] = command["id"] if command else self.snowflake()
        if command and command.get("guild_id"):
            data["guild_id"] = command["guild_id"]  # the tree looks guild commands up by this
        payload: dict[str, Any] = {
            "id": self.snowflake(),
            "application_id": str(self.application_id),
            "type": 2,
            "data": data,
            "token": secrets.token_urlsafe(48),
            "version": 1,
            "locale": "en-US",
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT_BYTES,
        }
        if guild:
            channel = self._channels[str(channel_id or self.channel_id)]
            payload.update(
                guild_id=str(self.guild_id),
                guild={"id": str(self.guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member=self.member(user),
                context=0,
                authorizing_integration_owners={"0": str(self.guild_id)},
            )
        else:
            channel = self.dm_channel(user)
            payload.update(user=user, context=1, authorizing_integration_owners={"0": "0"})
        payload.update(channel_id=channel["id"], channel=channel)
        return payload

    def _synced_command(self, name: str, command_type: int, guild: bool) -> dict | None:
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

    def _guild(self) -> dict:
        everyone = {"id": str(self.guild_id), "name": "@everyone", "permissions": str(EVERYONE_PERMISSIONS)}
        everyone.update(position=0, color=0, hoist=False, managed=False, mentionable=False, flags=0)
        return {
            "id": str(self.guild_id),
            "name": "Fake Guild",
            "owner_id": self.owner_user["id"],
            "unavailable": False,
            "large": False,
            "member_count": 2,
            "joined_at": _now(),
            "preferred_locale": "en-US",
            "features": [],
            "roles": [everyone],
            "channels": [self._channels[str(self.channel_id)]],
            "members": [self.member(self.bot_user)],
            **{key: [] for key in ("emojis", "stickers", "threads", "presences", "voice_states")},
            **{key: [] for key in ("stage_instances", "guild_scheduled_events", "soundboard_sounds")},
        }

    def _application(self) -> dict:
        return {
            "id": str(self.application_id),
            "name": "blipbot",
            "icon": None,
            "description": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.owner_user,
            "team": None,
            "flags": 0,
            "bot": self.bot_user,
            # A set endpoint URL means Discord would POST interactions there instead of the gateway.
            "interactions_endpoint_url": None,
        }

    # gateway

    async def dispatch(self, event: str, data: dict) -> dict | None:
        """Send a DISPATCH to every identified client; returns what was sent, after Discord's intent rules
        (None when the intents drop the event)."""
        sessions = [session for session in self._sessions if session.identified]
        if not sessions:
            raise RuntimeError("no client is connected to the fake gateway; await wait_until_ready() first")
        if event == "MESSAGE_CREATE":
            self.messages[data["id"]] = data  # so replies and fetches can find it
            data = self._apply_intents(data)
            if data is None:
                return None
        for session in sessions:
            await session.send(0, data, event)
        return data

    async def dispatch_interaction(self, payload: dict) -> None:
        """Dispatch INTERACTION_CREATE; the fake then expects a callback within `ack_deadline_seconds`."""
        self._interactions[payload["id"]] = _PendingInteraction(
            token=payload["token"],
            channel_id=payload["channel_id"],
            deadline=time.monotonic() + self.ack_deadline_seconds,
        )
        await self.dispatch("INTERACTION_CREATE", payload)

    def _apply_intents(self, message: dict) -> dict | None:
        intents = (self.identify or {}).get("intents", 0)
        in_guild = "guild_id" in message
        if not intents & (GUILD_MESSAGES_INTENT if in_guild else DIRECT_MESSAGES_INTENT):
            return None
        mentioned = any(user["id"] == self.bot_user["id"] for user in message.get("mentions", []))
        own = message["author"]["id"] == self.bot_user["id"]
        if intents & MESSAGE_CONTENT_INTENT or not in_guild or mentioned or own:
            return message
        # Without the privileged intent, guild messages arrive with these fields emptied.
        return {**message, "content": "", "embeds": [], "attachments": [], "components": []}

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if request.query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"FakeDiscord speaks JSON only")
            return ws
        # discord.py asks for zlib-stream (or zstd-stream when zstandard is installed); plain text frames
        # are always accepted, so only zlib-stream is honoured.
        compress = request.query.get("compress")
        session = _GatewaySession(ws, zlib.compressobj() if compress == "zlib-stream" else None)
        self._sessions.append(session)
        try:
            await session.send(10, {"heartbeat_interval": self.heartbeat_interval_ms})
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._gateway_payload(session, json.loads(frame.data))
        finally:
            self._sessions.remove(session)
        return ws

    async def _gateway_payload(self, session: _GatewaySession, payload: dict) -> None:
        self.gateway_received.append(payload)
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            await session.send(11)
        elif op == 2:
            if d.get("token") != self.token:
                await session.ws.close(code=4004, message=b"Authentication failed.")
                return
            self.identify = d
            session.identified = True
            await session.send(0, self._ready(d), "READY")
            await session.send(0, self._guild(), "GUILD_CREATE")
            self._identified.set()
        elif op == 6:
            session.identified = True
            await session.send(0, {}, "RESUMED")

    def _ready(self, identify: dict) -> dict:
        return {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": self.gateway_url,
            "shard": identify.get("shard", [0, 1]),
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "presences": [],
            "relationships": [],
        }

    # REST and CDN

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body, files = await self._read_body(request)
        path = request.path.removeprefix(API_PREFIX)
        call = Call(request.method, path, body, files)
        self.calls.append(call)
        async with self._new_call:
            self._new_call.notify_all()
        if request.path.startswith(CDN_PREFIX):
            return self._cdn(request.path)
        if not request.path.startswith(API_PREFIX + "/"):
            return _error(404, 0, "404: Not Found")
        auth = request.headers.get("Authorization")
        needs_auth = not path.startswith(("/webhooks/", "/interactions/"))
        if auth != f"Bot {self.token}" and (auth is not None or needs_auth):
            return _error(401, 0, "401: Unauthorized")
        for method, pattern, handler in self._routes:
            match = re.fullmatch(pattern, path)
            if method == request.method and match:
                response = handler(match, call)
                # Executing a webhook and answering an interaction reply 204 unless asked for the body.
                asked_by = {"webhooks": "wait", "interactions": "with_response"}.get(path.split("/")[1])
                asked = request.query.get(asked_by or "", "false").lower() in ("1", "true")
                if request.method == "POST" and asked_by and response.status == 200 and not asked:
                    return web.Response(status=204)
                return response
        self.unhandled.append(call)
        return _error(404, 0, f"404: Not Found (FakeDiscord has no route for {request.method} {path})")

    async def _read_body(self, request: web.Request) -> tuple[Any, list[FakeFile]]:
        if request.content_type == "application/json":
            return await request.json(), []
        if request.content_type != "multipart/form-data":
            return None, []
        body, files = None, []
        async for part in await request.multipart():
            if part.name == "payload_json":
                body = json.loads(await part.text())
            else:
                content_type = part.headers.get("Content-Type", "application/octet-stream")
                files.append(
                    FakeFile(part.name or "", part.filename or "", content_type, bytes(await part.read()))
                )
        return body, files

    def _cdn(self, path: str) -> web.Response:
        parts = path.removeprefix(CDN_PREFIX).split("/")
        if len(parts) != 3 or parts[1] not in self._attachments:
            return web.Response(status=404, text="Not Found")
        data, content_type = self._attachments[parts[1]]
        return web.Response(body=data, headers={"Content-Type": content_type})

    def _get_gateway(self, match: re.Match, call: Call) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    def _put_commands(self, match: re.Match, call: Call) -> web.Response:
        app_id, guild_id = match.groups()
        if app_id != str(self.application_id) or guild_id not in (None, str(self.guild_id)):
            return _error(403, 50001, "Missing Access")
        scope = int(guild_id) if guild_id else None
        self.command_puts += 1
        previous = {(c["name"], c.get("type", 1)): c["id"] for c in self.commands.get(scope, [])}
        stored = []
        for command in call.json:
            command_id = previous.get((command["name"], command.get("type", 1))) or self.snowflake()
            entry = {
                "type": 1,
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                **command,
            }
            entry.update(id=command_id, application_id=app_id, version=self.snowflake())
            if guild_id:
                entry["guild_id"] = guild_id
            stored.append(entry)
        self.commands[scope] = stored
        return _json(stored)

    def _get_commands(self, match: re.Match, call: Call) -> web.Response:
        guild_id = match.group(2)
        return _json(self.commands.get(int(guild_id) if guild_id else None, []))

    def _interaction_callback(self, match: re.Match, call: Call) -> web.Response:
        interaction_id, token = match.groups()
        pending = self._interactions.get(interaction_id)
        if pending is None or pending.token != token or time.monotonic() > pending.deadline:
            return _error(404, 10062, "Unknown interaction")
        if pending.acked:
            return _error(400, 40060, "Interaction has already been acknowledged.")
        pending.acked = True
        callback_type = call.json["type"]
        data = call.json.get("data") or {}
        response: dict[str, Any] = {
            "interaction": {"id": interaction_id, "type": 2},
            "resource": {"type": callback_type},
        }
        if callback_type in (4, 5):
            flags = data.get("flags", 0) & EPHEMERAL_FLAG
            if callback_type == 5:
                data, flags = {}, flags | LOADING_FLAG
            message = self._bot_message(pending.channel_id, data, call.files, flags=flags, webhook=True)
            pending.original_id = message["id"]
            response["resource"]["message"] = message
            response["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=callback_type == 5,
                response_message_ephemeral=bool(flags & EPHEMERAL_FLAG),
            )
        return _json(response)

    def _acked_interaction(self, app_id: str, token: str) -> _PendingInteraction | None:
        if app_id != str(self.application_id):
            return None
        return next((p for p in self._interactions.values() if p.token == token and p.acked), None)

    def _followup(self, match: re.Match, call: Call) -> web.Response:
        pending = self._acked_interaction(*match.groups())
        if pending is None:
            return _error(404, 10015, "Unknown Webhook")
        flags = (call.json or {}).get("flags", 0) & EPHEMERAL_FLAG
        return _json(
            self._bot_message(pending.channel_id, call.json or {}, call.files, flags=flags, webhook=True)
        )

    def _webhook_message(self, match: re.Match, call: Call) -> web.Response:
        app_id, token, message_id = match.groups()
        pending = self._acked_interaction(app_id, token)
        if pending is None:
            return _error(404, 10015, "Unknown Webhook")
        if message_id == "@original":
            message_id = pending.original_id or ""
        return self._existing_message(message_id, call)

    def _existing_message(self, message_id: str, call: Call) -> web.Response:
        message = self.messages.get(message_id)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if call.method == "DELETE":
            del self.messages[message_id]
            return web.Response(status=204)
        if call.method == "PATCH":
            edit = call.json or {}
            for key in ("content", "embeds", "components"):
                if key in edit:
                    message[key] = edit[key] or ([] if key != "content" else "")
            if "attachments" in edit:
                kept = {str(a["id"]) for a in edit["attachments"]}
                message["attachments"] = [a for a in message["attachments"] if a["id"] in kept]
            message["attachments"] += self._uploads(call.files)
            message["flags"] &= ~LOADING_FLAG
            message["edited_timestamp"] = _now()
        return _json(message)

    def _get_channel(self, match: re.Match, call: Call) -> web.Response:
        channel = self._channels.get(match.group(1))
        return _json(channel) if channel else _error(404, 10003, "Unknown Channel")

    def _channel_message(self, match: re.Match, call: Call) -> web.Response:
        channel_id, message_id = match.group(1), match.group(2) if match.lastindex == 2 else None
        if channel_id not in self._channels:
            return _error(404, 10003, "Unknown Channel")
        if message_id is not None:
            return self._existing_message(message_id, call)
        message = self._bot_message(channel_id, call.json or {}, call.files, flags=0, webhook=False)
        reference = (call.json or {}).get("message_reference")
        if reference:
            message.update(type=19, message_reference={"channel_id": channel_id, **reference})
            replied_to = self.messages.get(str(reference["message_id"]))
            if replied_to is not None:
                message["referenced_message"] = replied_to
        return _json(message)

    def _create_dm(self, match: re.Match, call: Call) -> web.Response:
        recipient = str(call.json["recipient_id"])
        user = self._users.get(recipient) or self.user("user", user_id=recipient)
        return _json(self.dm_channel(user))

    def _bot_message(
        self, channel_id: str, fields: dict, files: list[FakeFile], *, flags: int, webhook: bool
    ) -> dict:
        message = self.message(
            channel_id, fields.get("content") or "", self.bot_user, attachments=self._uploads(files)
        )
        message.update(
            embeds=fields.get("embeds") or [], components=fields.get("components") or [], flags=flags
        )
        if webhook:
            message.update(webhook_id=str(self.application_id), application_id=str(self.application_id))
        self.messages[message["id"]] = message
        return message

    def _uploads(self, files: list[FakeFile]) -> list[dict]:
        return [self.add_attachment(f.data, f.filename) for f in files]

    # assertions

    async def wait_for(self, method: str, path_regex: str, timeout: float = 10.0) -> Call:
        """Return the earliest recorded call whose method matches and whose path fully matches `path_regex`,
        skipping calls an earlier `wait_for` returned; waits up to `timeout` seconds for one to arrive."""
        pattern, method = re.compile(path_regex), method.upper()

        def unclaimed() -> Call | None:
            for index, call in enumerate(self.calls):
                if index not in self._claimed and call.method == method and pattern.fullmatch(call.path):
                    self._claimed.add(index)
                    return call
            return None

        try:
            async with asyncio.timeout(timeout), self._new_call:
                return await self._new_call.wait_for(unclaimed)
        except TimeoutError:
            recent = "\n  ".join(f"{c.method} {c.path}" for c in self.calls[-15:]) or "(none)"
            raise TimeoutError(
                f"FakeDiscord saw no {method} {path_regex!r} within {timeout}s; recent calls:\n  {recent}"
            ) from None

    def callbacks(self, interaction_id: int | str) -> list[Call]:
        prefix = f"/interactions/{interaction_id}/"
        return [c for c in self.calls if c.method == "POST" and c.path.startswith(prefix)]

    def followups(self, token: str) -> list[Call]:
        path = f"/webhooks/{self.application_id}/{token}"
        return [c for c in self.calls if c.method == "POST" and c.path == path]


@contextlib.contextmanager
def patch_discord(fake: FakeDiscord) -> Iterator[FakeDiscord]:
    """Point discord.py's REST base and default gateway at `fake` for the duration of the block.

    Route builds its URL when a request is made, so only requests started inside the block go to the fake.
    """
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_url
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved
