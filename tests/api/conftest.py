"""A running API server (the real app under uvicorn, on a free port) over a fake or tiny model.

The official `replicate` client is synchronous: tests call it through `asyncio.to_thread`, so the
server keeps running on the test's event loop meanwhile, as it would in its own process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import replicate

from bot.api.server import ApiServer
from bot.app.config import Settings
from bot.app.runner import api_server, running_service
from inference.types import Engine
from tests.fakes.engine import FakeEngine

TOKEN = "test-token-0123456789"
OTHER_TOKEN = "other-token-9876543210"


@dataclass
class RunningApi:
    server: ApiServer
    engine: Any
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, token: str = TOKEN) -> replicate.Client:
        return replicate.Client(api_token=token, base_url=self.url)

    def http(self, token: str | None = TOKEN) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    async def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A blocking client call, in a thread, while the server serves on this loop."""
        return await asyncio.to_thread(function, *args, **kwargs)


@asynccontextmanager
async def running_api(tmp_path, engine: Engine, **config: Any) -> AsyncIterator[RunningApi]:
    api = {"tokens": [TOKEN, OTHER_TOKEN], "port": 0, "allow_private_urls": True, **config.pop("api", {})}
    settings = Settings(
        storage=config.pop("storage", {"url": f"sqlite+aiosqlite:///{tmp_path}/api.sqlite3"}),
        api=api,
        inference={"request_timeout_s": 30, "model": "test-model", **config.pop("inference", {})},
        **config,
    )
    async with running_service(settings, engine=engine, retention=False) as service:
        server = api_server(settings, service)
        await server.start()
        try:
            yield RunningApi(server, engine, settings)
        finally:
            await server.stop()


@pytest.fixture
async def api(tmp_path) -> AsyncIterator[RunningApi]:
    """The API over a scripted fake model (prompts recorded, answers known)."""
    async with running_api(tmp_path, FakeEngine()) as running:
        yield running
