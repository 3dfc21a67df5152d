"""The gateway websocket: HELLO, IDENTIFY (answered READY and GUILD_CREATE), heartbeats, RESUME, and
the DISPATCH events tests push, filtered by the intents the client identified with, as Discord does.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord_api.state import EVERYONE_PERMISSIONS, DiscordState, PendingInteraction, now

GUILD_MESSAGES_INTENT = 1 << 9
DIRECT_MESSAGES_INTENT = 1 << 12
MESSAGE_CONTENT_INTENT = 1 << 15


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


class FakeGateway:
    """Every connected websocket; records what clients send in `state.gateway_received` and `identify`."""

    def __init__(self, state: DiscordState) -> None:
        self._state = state
        self._sessions: list[_GatewaySession] = []
        self.identified = asyncio.Event()  # set once a client has been sent READY and GUILD_CREATE

    async def connect(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one websocket connection until the client closes it."""
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
            await session.send(10, {"heartbeat_interval": self._state.heartbeat_interval_ms})
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._receive(session, json.loads(frame.data))
        finally:
            self._sessions.remove(session)
        return ws

    async def close(self) -> None:
        """Close every websocket; open ones would hold up the server's shutdown."""
        for session in list(self._sessions):
            await session.ws.close(code=1000)

    async def dispatch(self, event: str, data: dict) -> dict | None:
        """Send a DISPATCH to every identified client; returns what was sent, after Discord's intent rules
        (None when the intents drop the event)."""
        sessions = [session for session in self._sessions if session.identified]
        if not sessions:
            raise RuntimeError("no client is connected to the fake gateway; await wait_until_ready() first")
        if event == "MESSAGE_CREATE":
            self._state.messages[data["id"]] = data  # so replies and fetches can find it
            data = self._apply_intents(data)
            if data is None:
                return None
        for session in sessions:
            await session.send(0, data, event)
        return data

    async def dispatch_interaction(self, payload: dict) -> None:
        """Dispatch INTERACTION_CREATE; the fake then expects a callback within `ack_deadline_seconds`."""
        self._state.interactions[payload["id"]] = PendingInteraction(
            token=payload["token"],
            channel_id=payload["channel_id"],
            deadline=time.monotonic() + self._state.ack_deadline_seconds,
            # A button's interaction starts out with the message it sits on as its original response.
            original_id=(payload.get("message") or {}).get("id"),
        )
        await self.dispatch("INTERACTION_CREATE", payload)

    def _apply_intents(self, message: dict) -> dict | None:
        state = self._state
        intents = (state.identify or {}).get("intents", 0)
        in_guild = "guild_id" in message
        if not intents & (GUILD_MESSAGES_INTENT if in_guild else DIRECT_MESSAGES_INTENT):
            return None
        mentioned = any(user["id"] == state.bot_user["id"] for user in message.get("mentions", []))
        own = message["author"]["id"] == state.bot_user["id"]
        if intents & MESSAGE_CONTENT_INTENT or not in_guild or mentioned or own:
            return message
        # Without the privileged intent, guild messages arrive with these fields emptied.
        return {**message, "content": "", "embeds": [], "attachments": [], "components": []}

    async def _receive(self, session: _GatewaySession, payload: dict) -> None:
        self._state.gateway_received.append(payload)
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            await session.send(11)
        elif op == 2:
            if d.get("token") != self._state.token:
                await session.ws.close(code=4004, message=b"Authentication failed.")
                return
            self._state.identify = d
            session.identified = True
            await session.send(0, self._ready(d), "READY")
            await session.send(0, self._guild(), "GUILD_CREATE")
            self.identified.set()
        elif op == 6:
            session.identified = True
            await session.send(0, {}, "RESUMED")

    def _ready(self, identify: dict) -> dict:
        state = self._state
        return {
            "v": 10,
            "user": state.bot_user,
            "guilds": [{"id": str(state.guild_id), "unavailable": True}],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": state.gateway_url,
            "shard": identify.get("shard", [0, 1]),
            "application": {"id": str(state.application_id), "flags": 0},
            "private_channels": [],
            "presences": [],
            "relationships": [],
        }

    def _guild(self) -> dict:
        state = self._state
        everyone = {"id": str(state.guild_id), "name": "@everyone", "permissions": str(EVERYONE_PERMISSIONS)}
        everyone.update(position=0, color=0, hoist=False, managed=False, mentionable=False, flags=0)
        return {
            "id": str(state.guild_id),
            "name": "Fake Guild",
            "owner_id": state.owner_user["id"],
            "unavailable": False,
            "large": False,
            "member_count": 2,
            "joined_at": now(),
            "preferred_locale": "en-US",
            "features": [],
            "roles": [everyone],
            "channels": [state.channels[str(state.channel_id)]],
            "members": [state.member(state.bot_user)],
            **{key: [] for key in ("emojis", "stickers", "threads", "presences", "voice_states")},
            **{key: [] for key in ("stage_instances", "guild_scheduled_events", "soundboard_sounds")},
        }
