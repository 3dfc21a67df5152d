"""The Bot API's HTTP face: /bot<token>/<method> answered by BotApi or by a fault a test injected, and
/file/bot<token>/<path> downloads of stored files (logged, and faults queued, under `DOWNLOAD`);
every authorised call is logged in the CallLog.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

from tests.fakes import telegram_objects as tgo
from tests.fakes.telegram_api.calls import CallLog, Params
from tests.fakes.telegram_methods import BotApi, BotApiError

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the cloud Bot API's limit for files a bot sends
#: The fault key for file downloads: not a Bot API method, so it cannot collide with one.
DOWNLOAD = "file download"
#: How long a hanging fault holds its request: past any client's read timeout, and cut short when
#: the server stops (its shutdown timeout cancels the handler).
HANG_SECONDS = 120.0


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    disconnect: bool
    hang: bool


class BotApiRoutes:
    """The aiohttp handlers for method calls and file downloads, and the queue of injected faults."""

    def __init__(self, *, token: str, api: BotApi, log: CallLog) -> None:
        self._token = token
        self._api = api
        self._log = log
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_download)
        return app

    def fail_next(
        self,
        method: str,
        times: int,
        status: int,
        *,
        retry_after: int | None,
        description: str | None,
        disconnect: bool,
        hang: bool,
    ) -> None:
        """Queue `times` faults for `method`; see `FakeTelegram.fail_next`."""
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == HTTPStatus.TOO_MANY_REQUESTS
                else HTTPStatus(status).phrase
            )
        for _ in range(times):
            self._faults[method.lower()].append(_Fault(status, description, retry_after, disconnect, hang))

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self._token:
            return _reply(tgo.error_body(401, "Unauthorized"), 401)
        method = request.match_info["method"]
        call = self._log.record(method, await _read_params(request))
        try:
            faults = self._faults.get(method.lower())
            if faults:
                return await _answer_fault(request, faults.popleft())
            try:
                result = await self._api.dispatch(method, call.params)
            except BotApiError as exc:
                return _reply(tgo.error_body(exc.code, exc.description, **exc.parameters), exc.code)
            call.ok = True
            return _reply({"ok": True, "result": result})
        finally:
            self._log.mark_answered(call)

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["file_path"]
        file = self._api.files_by_path.get(path)
        if request.match_info["token"] != self._token or file is None:
            return _reply(tgo.error_body(404, "Not Found"), 404)
        call = self._log.record(DOWNLOAD, {"file_path": path})
        try:
            faults = self._faults.get(DOWNLOAD)
            if faults:
                fault = faults.popleft()
                if fault.status >= 500 and not (fault.disconnect or fault.hang):
                    # The file server is a plain web server: its errors are pages, not Bot API JSON.
                    return web.Response(status=fault.status, text=f"<html>{fault.description}</html>")
                return await _answer_fault(request, fault)
            call.ok = True
            return web.Response(body=file.data, content_type="application/octet-stream")
        finally:
            self._log.mark_answered(call)


async def _read_params(request: web.Request) -> Params:
    """Params from the query string and a JSON, urlencoded or multipart body (PTB sends the last two)."""
    params: Params = {key: tgo.decode_form_value(key, value) for key, value in request.query.items()}
    if request.method != "POST" or not request.body_exists:
        return params
    if request.content_type == "application/json":
        params.update(await request.json())
        return params
    for key, value in (await request.post()).items():
        if isinstance(value, web.FileField):
            params[key] = tgo.UploadedFile(key, value.filename, value.content_type, value.file.read())
        elif isinstance(value, str):
            params[key] = tgo.decode_form_value(key, value)
    return params


async def _answer_fault(request: web.Request, fault: _Fault) -> web.StreamResponse:
    if fault.hang:
        # Accept the request and never answer it in time: the client's read timeout fires. The
        # call was not handled (a request lost on the way), so a retry must not repeat its effect.
        await asyncio.sleep(HANG_SECONDS)
        return web.Response(status=HTTPStatus.GATEWAY_TIMEOUT)
    if fault.disconnect:
        # Abort the socket: the client sees a reset with no response, like a flaky network.
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=HTTPStatus.SERVICE_UNAVAILABLE)  # never reaches the client
    extra = {"retry_after": fault.retry_after} if fault.retry_after is not None else {}
    return _reply(tgo.error_body(fault.status, fault.description, **extra), fault.status)


def _reply(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)
