"""A fake Telegram Bot API server that the real python-telegram-bot `Application` talks to over HTTP.

Tests enqueue user messages with factories (`send_text`, `send_photo`, ...), PTB long-polls them with
getUpdates, and every request the bot makes is recorded in `calls` for `wait_for` to find.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import socket
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import Any

from aiohttp import web

from tests.fakes import telegram_objects as tgo
from tests.fakes.telegram_methods import BotApi, BotApiError, Signal

DEFAULT_TOKEN = "123456:TEST-TOKEN"
BOT_USERNAME = "blipbot_test_bot"
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the cloud Bot API's getFile limit
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the cloud Bot API's limit for files a bot sends
DEFAULT_GROUP_USER_ID = 1001
SHUTDOWN_TIMEOUT_SECONDS = 2.0
RECENT_CALLS_SHOWN = 12

Params = dict[str, Any]


@dataclass
class _Call:
    method: str
    params: Params
    answered: bool = False  # getUpdates stays unanswered while it long-polls
    ok: bool = False


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    disconnect: bool


class FakeTelegram:
    """A scriptable Bot API on 127.0.0.1 (random port); use as `async with FakeTelegram() as tg:`.

    Point PTB at it with `.base_url(tg.base_url).base_file_url(tg.base_file_url)`: PTB appends the token.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = BOT_USERNAME,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        self._token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0])  # a real token starts with the bot's user id
        self._signal = Signal()
        self._api = BotApi(
            bot_id=self.bot_id,
            bot_username=bot_username,
            max_download_bytes=max_download_bytes,
            signal=self._signal,
        )
        self._log: list[_Call] = []
        self._claimed: set[int] = set()  # indices into _log already returned by wait_for
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._callback_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1; the URLs are valid from here on."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self._url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def close(self) -> None:
        """Answer every pending long poll with no updates, then stop the server."""
        self._api.closing = True
        self._signal.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("FakeTelegram is not started; use `async with FakeTelegram() as tg:`")
        return self._url

    @property
    def base_url(self) -> str:
        """For `ApplicationBuilder.base_url`: PTB requests `{base_url}{token}/{method}`."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For `ApplicationBuilder.base_file_url`: PTB downloads `{base_file_url}{token}/{file_path}`."""
        return f"{self.url}/file/bot"

    @property
    def token(self) -> str:
        return self._token

    # -- scripting: files and updates ---------------------------------------------------------------

    def add_file(self, data: bytes, *, file_size: int | None = None) -> str:
        """Store bytes for getFile and download; `file_size` may claim a larger size than `data`."""
        return self._api.store_file(data, file_size=file_size, folder="documents", suffix="").file_id

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Enqueue a user's text message; entities default to the commands and mentions in `text`."""
        content: dict[str, Any] = {"text": text}
        found = tgo.detect_entities(text) if entities is None else entities
        if found:
            content["entities"] = found
        return self._enqueue_message(chat_id, content, user_id, chat_type, reply_to_message_id)

    def send_command(
        self,
        chat_id: int,
        command: str,
        *,
        addressed: bool = False,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Enqueue "/cmd args"; `addressed=True` sends "/cmd@<bot username> args" as group members do."""
        if not command.startswith("/"):
            raise ValueError(f"a command starts with '/', got {command!r}")
        if addressed:
            word, _, rest = command.partition(" ")
            command = f"{word}@{self.bot_username} {rest}".rstrip()
        return self.send_text(
            chat_id, command, user_id=user_id, chat_type=chat_type, reply_to_message_id=reply_to_message_id
        )

    def mention(
        self,
        chat_id: int,
        text: str = "",
        *,
        user_id: int | None = None,
        chat_type: str = "group",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Enqueue "@<bot username> text" with a mention entity, as a group member addresses the bot."""
        full = f"@{self.bot_username} {text}".rstrip()
        return self.send_text(
            chat_id, full, user_id=user_id, chat_type=chat_type, reply_to_message_id=reply_to_message_id
        )

    def send_photo(
        self,
        chat_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        media_group_id: str | None = None,
        width: int = 1280,
        height: int = 960,
        file_size: int | None = None,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Enqueue a photo: three PhotoSizes, smallest first; only the last one serves `data`.

        The two thumbnails serve short placeholder bytes, so a bot that picks `photo[0]` is caught.
        """
        large = self._api.store_file(data, file_size=file_size, folder="photos", suffix=".jpg")
        thumbs = [
            self._api.store_file(
                f"thumbnail {side}px of {large.file_id}".encode(), folder="photos", suffix=".jpg"
            )
            for side in (90, 320)
        ]
        content: dict[str, Any] = {"photo": tgo.photo_sizes(large, thumbs, width, height)}
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        _add_caption(content, caption)
        return self._enqueue_message(chat_id, content, user_id, chat_type, reply_to_message_id)

    def send_document(
        self,
        chat_id: int,
        data: bytes,
        *,
        mime_type: str = "application/octet-stream",
        file_name: str = "file.bin",
        caption: str | None = None,
        file_size: int | None = None,
        user_id: int | None = None,
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        """Enqueue a document (e.g. an uncompressed image sent "as file")."""
        file = self._api.store_file(
            data, file_size=file_size, folder="documents", suffix=PurePosixPath(file_name).suffix
        )
        document = {**file.as_reference(), "file_name": file_name, "mime_type": mime_type}
        content: dict[str, Any] = {"document": document}
        _add_caption(content, caption)
        return self._enqueue_message(chat_id, content, user_id, chat_type, reply_to_message_id)

    def press_button(
        self, message: dict[str, Any], data: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """Enqueue a callback_query, as if a user pressed an inline button under `message`."""
        chat_id = message["chat"]["id"]
        sender = tgo.user(user_id if user_id is not None else _default_user(chat_id, message["chat"]["type"]))
        query = {
            "id": str(next(self._callback_ids)),
            "from": sender,
            "message": copy.deepcopy(message),
            "chat_instance": str(chat_id),
            "data": data,
        }
        self._api.enqueue({"callback_query": query})
        return query

    # -- recording and waiting ---------------------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, Params]]:
        """Every authorised request in arrival order, including unanswered long polls and injected faults."""
        return [(call.method, call.params) for call in self._log]

    @property
    def unknown_methods(self) -> list[str]:
        """Methods the fake does not implement; they were answered `true` so the bot kept running."""
        return [call.method for call in self._log if not self._api.implements(call.method)]

    def message(self, chat_id: int | str, message_id: int) -> dict[str, Any] | None:
        """A message as it stands now (after the bot's edits), or None if it is unknown or deleted."""
        return self._api.message(chat_id, message_id)

    def sent_messages(self, chat_id: int | str | None = None) -> list[Params]:
        """Params of successful sendMessage calls, optionally only those to `chat_id`."""
        return [
            call.params
            for call in self._log
            if call.ok
            and call.method.lower() == "sendmessage"
            and chat_id in (None, call.params.get("chat_id"))
        ]

    async def wait_for(
        self, method: str, predicate: Callable[[Params], bool] | None = None, timeout: float = 10.0
    ) -> Params:
        """Return the params of the earliest matching answered call that no earlier wait_for returned.

        Waits up to `timeout` seconds for the fake to answer it, so its effects (a stored message, an
        entry in `sent_messages`) are visible on return; calls answered with an injected fault count.
        """

        def find() -> Params | None:
            for index, call in enumerate(self._log):
                if index in self._claimed or not call.answered or call.method.lower() != method.lower():
                    continue
                if predicate is None or predicate(call.params):
                    self._claimed.add(index)
                    return call.params
            return None

        return await self._wait_until(find, timeout, f"a {method} call")

    async def wait_for_count(self, method: str, n: int, timeout: float = 10.0) -> list[Params]:
        """Wait until at least `n` calls of `method` were answered; return all of their params."""

        def find() -> list[Params] | None:
            found = [c.params for c in self._log if c.answered and c.method.lower() == method.lower()]
            return found if len(found) >= n else None

        return await self._wait_until(find, timeout, f"{n} {method} calls")

    def fail_next(
        self,
        method: str,
        times: int = 1,
        status: int = 502,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        disconnect: bool = False,
    ) -> None:
        """Answer the next `times` calls of `method` with an error instead of handling them.

        status 429 adds `parameters.retry_after` (default 1 s), which PTB raises as RetryAfter;
        `disconnect=True` drops the connection without an answer, which PTB raises as NetworkError.
        """
        if status == HTTPStatus.TOO_MANY_REQUESTS and retry_after is None:
            retry_after = 1
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == HTTPStatus.TOO_MANY_REQUESTS
                else HTTPStatus(status).phrase
            )
        for _ in range(times):
            self._faults[method.lower()].append(_Fault(status, description, retry_after, disconnect))

    # -- HTTP --------------------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self._token:
            return _reply(tgo.error_body(401, "Unauthorized"), 401)
        method = request.match_info["method"]
        call = _Call(method, await _read_params(request))
        self._log.append(call)
        self._signal.notify()
        try:
            faults = self._faults.get(method.lower())
            if faults:
                return _answer_fault(request, faults.popleft())
            try:
                result = await self._api.dispatch(method, call.params)
            except BotApiError as exc:
                return _reply(tgo.error_body(exc.code, exc.description, **exc.parameters), exc.code)
            call.ok = True
            return _reply({"ok": True, "result": result})
        finally:
            call.answered = True
            self._signal.notify()

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        file = self._api.files_by_path.get(request.match_info["file_path"])
        if request.match_info["token"] != self._token or file is None:
            return _reply(tgo.error_body(404, "Not Found"), 404)
        return web.Response(body=file.data, content_type="application/octet-stream")

    # -- helpers ---------------------------------------------------------------------------------

    def _enqueue_message(
        self,
        chat_id: int,
        content: dict[str, Any],
        user_id: int | None,
        chat_type: str,
        reply_to_message_id: int | None,
    ) -> dict[str, Any]:
        sender = tgo.user(user_id if user_id is not None else _default_user(chat_id, chat_type))
        message = self._api.user_message(chat_id, sender, chat_type, content, reply_to_message_id)
        self._api.enqueue({"message": message})
        return message

    async def _wait_until(self, find: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while (found := find()) is None:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no {what} within {timeout}s; {self._describe_recent_calls()}")
            await self._signal.wait(remaining)
        return found

    def _describe_recent_calls(self) -> str:
        # getUpdates polls are noise when explaining why a reply never came.
        recent = [call for call in self._log if call.method != "getUpdates"][-RECENT_CALLS_SHOWN:]
        if not recent:
            return "the bot made no calls besides getUpdates"
        lines = [f"  {call.method}{_outcome(call)} {_short(call.params)}" for call in recent]
        return "recent calls, getUpdates omitted:\n" + "\n".join(lines)


def _default_user(chat_id: int, chat_type: str) -> int:
    # In a private chat the chat id is the user's id.
    return chat_id if chat_type == "private" else DEFAULT_GROUP_USER_ID


def _add_caption(content: dict[str, Any], caption: str | None) -> None:
    if caption is None:
        return
    content["caption"] = caption
    entities = tgo.detect_entities(caption)
    if entities:
        content["caption_entities"] = entities


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


def _answer_fault(request: web.Request, fault: _Fault) -> web.StreamResponse:
    if fault.disconnect:
        # Abort the socket: the client sees a reset with no response, like a flaky network.
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=HTTPStatus.SERVICE_UNAVAILABLE)  # never reaches the client
    extra = {"retry_after": fault.retry_after} if fault.retry_after is not None else {}
    return _reply(tgo.error_body(fault.status, fault.description, **extra), fault.status)


def _reply(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


def _outcome(call: _Call) -> str:
    if not call.answered:
        return " (unanswered)"
    return "" if call.ok else " (failed)"


def _short(params: Params) -> str:
    text = json.dumps(params, default=repr, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."
