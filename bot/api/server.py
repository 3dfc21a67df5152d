"""`ApiServer`: the API app under uvicorn, started and stopped beside the chat platforms.

The socket is bound here first, so a port in use is one plain startup error rather than
uvicorn's exit. Predictions left unfinished by the last stop are run again once it listens. On
stop it finishes the predictions in hand (up to the request timeout) before the queue closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import httpx
import uvicorn

from bot.api.app import build_api
from bot.api.config import ApiConfig
from bot.core import ChatService, ConfigError, StartupError

log = logging.getLogger(__name__)


def check_api_config(config: ApiConfig) -> None:
    """Refuse a start that could only answer 401 to everyone; checked before the model loads."""
    if not [token for token in config.tokens if token.get_secret_value().strip()]:
        raise ConfigError(
            "api.tokens is empty: set at least one API token, e.g. "
            "BLIPBOT_API__TOKENS='[\"a-long-random-string\"]' (openssl rand -hex 24 makes one)"
        )


class ApiServer:
    """The HTTP API as a start/stop pair, like the chat adapters."""

    name = "api"

    def __init__(
        self,
        config: ApiConfig,
        service: ChatService,
        *,
        model: str,
        max_image_bytes: int,
        stop_timeout_s: float,
    ) -> None:
        check_api_config(config)
        self.config = config
        self.stop_timeout_s = stop_timeout_s
        self.http = httpx.AsyncClient(headers={"user-agent": "blipbot"})
        self.app = build_api(config, service, model=model, max_image_bytes=max_image_bytes, http=self.http)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=config.listen,
                port=config.port,
                log_config=None,
                access_log=False,
                lifespan="off",
                # Requests held by `Prefer: wait` end within max_wait_s; then connections are closed.
                timeout_graceful_shutdown=round(config.max_wait_s) + 5,
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2] if self._task else (self.config.listen, self.config.port)
        return f"http://{host}:{port}"

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.config.listen else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((self.config.listen, self.config.port))
        except OSError as error:
            self._socket.close()
            raise StartupError(
                f"the API cannot listen on {self.config.listen}:{self.config.port}: {error.strerror} "
                "(see api.listen and api.port)"
            ) from None
        self._task = asyncio.create_task(self.server.serve(sockets=[self._socket]), name="blipbot-api")
        while not self.server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise StartupError("the API stopped while starting")
            await asyncio.sleep(0.02)
        self.app.state.api.images.note_own_origin(self.url)  # file URLs of inputs made before a restart
        recovered = await self.app.state.api.jobs.recover()
        if recovered:
            log.info("api: running again %d predictions a restart left unfinished", recovered)
        log.info("api listening on %s (model %s)", self.url, self.config.model_name)

    async def stop(self) -> None:
        """No new requests; the predictions in hand finish (or are left for the next start)."""
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.app.state.api.jobs.stop(self.stop_timeout_s)
        await self.http.aclose()
        self._socket.close()
