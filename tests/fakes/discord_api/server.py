"""FakeDiscord: one local aiohttp server for the REST API, gateway websocket and attachment CDN.

The real discord.py client talks to it once `patch_discord(fake)` points `Route.BASE` and the default
gateway at it; tests push gateway events built by the factories and assert on `fake.calls`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

import yarl
from aiohttp import web
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fakes.discord_api import interactions
from tests.fakes.discord_api.cdn import CDN_PREFIX
from tests.fakes.discord_api.gateway import FakeGateway
from tests.fakes.discord_api.rest import FakeRestApi, read_body
from tests.fakes.discord_api.state import (
    ACK_DEADLINE_SECONDS,
    API_PREFIX,
    GATEWAY_PATH,
    HEARTBEAT_INTERVAL_MS,
    Call,
    DiscordState,
)


class FakeDiscord(DiscordState):
    """An async context manager serving a one-guild Discord on 127.0.0.1 at a random port.

    The world and its records (users, messages, commands, `calls`) come from DiscordState; this adds
    the server, what a user does (commands, menus, gateway events) and waiting for what the bot does.
    """

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = HEARTBEAT_INTERVAL_MS,
        ack_deadline_seconds: float = ACK_DEADLINE_SECONDS,
    ) -> None:
        super().__init__(
            heartbeat_interval_ms=heartbeat_interval_ms, ack_deadline_seconds=ack_deadline_seconds
        )
        self._gateway = FakeGateway(self)
        self._rest = FakeRestApi(self)
        self._claimed: set[int] = set()  # indices into `calls` already returned by wait_for
        self._new_call = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # lifecycle

    async def __aenter__(self) -> FakeDiscord:
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_get(GATEWAY_PATH, self._gateway.connect)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_until_ready(self, timeout: float = 10.0) -> None:
        """Wait until a client has identified and been sent READY and GUILD_CREATE."""
        await asyncio.wait_for(self._gateway.identified.wait(), timeout)

    # what a user does

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
        return interactions.slash_command(
            self, name, options, user=user, channel_id=channel_id, guild=guild, attachments=attachments
        )

    def context_menu(self, name: str, target_message: dict, *, user: dict | None = None) -> dict:
        """An INTERACTION_CREATE payload for the message context menu `name` on `target_message`."""
        return interactions.context_menu(self, name, target_message, user=user)

    async def dispatch(self, event: str, data: dict) -> dict | None:
        """Send a DISPATCH to every identified client; returns what was sent, after Discord's intent rules
        (None when the intents drop the event)."""
        return await self._gateway.dispatch(event, data)

    async def dispatch_interaction(self, payload: dict) -> None:
        """Dispatch INTERACTION_CREATE; the fake then expects a callback within `ack_deadline_seconds`."""
        await self._gateway.dispatch_interaction(payload)

    # REST and CDN

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body, files = await read_body(request)
        call = Call(request.method, request.path.removeprefix(API_PREFIX), body, files)
        self.calls.append(call)
        async with self._new_call:
            self._new_call.notify_all()
        if request.path.startswith(CDN_PREFIX):
            return self.cdn.serve(request.path)
        return self._rest.answer(request, call)

    # what the bot did

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
