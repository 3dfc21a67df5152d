"""Small local HTTP peers for the API tests: a server of image URLs, and a webhook receiver.

Both are aiohttp servers on a free loopback port, run on the test's own event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class ImageHost:
    """Serves `files[path]` at `url(path)`; `status[path]` overrides the status code."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"


@dataclass
class WebhookReceiver:
    """Records each webhook's headers and body; answers `statuses` in turn (then 200)."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, timeout_s: float = 20.0) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


@asynccontextmanager
async def _serving(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def image_host() -> AsyncIterator[ImageHost]:
    host = ImageHost()

    async def serve(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        host.hits.append(path)
        if path in host.status:
            return web.Response(status=host.status[path], text="no")
        if path not in host.files:
            return web.Response(status=404, text="not found")
        return web.Response(body=host.files[path], content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/{path:.*}", serve)
    async with _serving(app) as base:
        host.base = base
        yield host


@asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    async def receive(request: web.Request) -> web.Response:
        receiver.received.append((dict(request.headers), await request.read()))
        receiver.arrived.set()
        status = receiver.statuses.pop(0) if receiver.statuses else 200
        return web.Response(status=status, text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    async with _serving(app) as base:
        receiver.url = f"{base}/hook"
        yield receiver
