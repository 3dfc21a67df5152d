"""A fake Telegram Bot API server that the real python-telegram-bot `Application` talks to over HTTP.

Tests enqueue user messages with factories (`send_text`, `send_photo`, ...), PTB long-polls them with
getUpdates, and every request the bot makes is recorded in `calls` for `wait_for` to find.
"""

from __future__ import annotations

import copy
import itertools
import socket
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from aiohttp import web

from tests.fakes import telegram_objects as tgo
from tests.fakes.telegram_api.calls import CallLog, Params
from tests.fakes.telegram_api.routes import DOWNLOAD, BotApiRoutes
from tests.fakes.telegram_methods import BotApi, Signal

DEFAULT_TOKEN = "123456:TEST-TOKEN"
BOT_USERNAME = "blipbot_test_bot"
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # the cloud Bot API's getFile limit
DEFAULT_GROUP_USER_ID = 1001
ANONYMOUS_ADMIN_USER_ID = 1087968824  # @GroupAnonymousBot, the sender of messages posted as the group
SHUTDOWN_TIMEOUT_SECONDS = 2.0


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
        self._log = CallLog(self._signal)
        self._routes = BotApiRoutes(token=token, api=self._api, log=self._log)
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
        app = self._routes.application()
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

    def send_as_group(self, chat_id: int, text: str, *, chat_type: str = "supergroup") -> dict[str, Any]:
        """Enqueue a text an anonymous admin posts as the group itself: from @GroupAnonymousBot, with
        the group as `sender_chat`, as the Bot API delivers it."""
        sender = {
            **tgo.user(ANONYMOUS_ADMIN_USER_ID),
            "is_bot": True,
            "first_name": "Group",
            "username": "GroupAnonymousBot",
        }
        content: dict[str, Any] = {"text": text, "sender_chat": tgo.chat(chat_id, chat_type, sender)}
        if found := tgo.detect_entities(text):
            content["entities"] = found
        message = self._api.user_message(chat_id, sender, chat_type, content, None)
        self._api.enqueue({"message": message})
        return message

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

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember says of `user_id` in `chat_id`: "creator", "administrator", "member",
        "restricted", "left" or "kicked"; everyone not set is a "member"."""
        if status not in tgo.MEMBER_STATUSES:
            raise ValueError(f"status must be one of {sorted(tgo.MEMBER_STATUSES)}, not {status!r}")
        self._api.member_statuses[(chat_id, user_id)] = status

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

    # -- recording, waiting and faults ---------------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, Params]]:
        """Every authorised request in arrival order, including unanswered long polls and injected faults."""
        return [(call.method, call.params) for call in self._log.entries]

    def outcomes(self, method: str) -> list[bool]:
        """For each call of `method` (or `DOWNLOAD`) so far, in order: True when it was answered with
        success, False for an injected fault (or one still hanging)."""
        return [call.ok for call in self._log.entries if call.method.lower() == method.lower()]

    @property
    def unknown_methods(self) -> list[str]:
        """Methods the fake does not implement; they were answered `true` so the bot kept running."""
        return [
            call.method
            for call in self._log.entries
            if call.method != DOWNLOAD and not self._api.implements(call.method)
        ]

    def message(self, chat_id: int | str, message_id: int) -> dict[str, Any] | None:
        """A message as it stands now (after the bot's edits), or None if it is unknown or deleted."""
        return self._api.message(chat_id, message_id)

    def sent_messages(self, chat_id: int | str | None = None) -> list[Params]:
        """Params of successful sendMessage calls, optionally only those to `chat_id`."""
        return self._log.sent_messages(chat_id)

    async def wait_for(
        self, method: str, predicate: Callable[[Params], bool] | None = None, timeout: float = 10.0
    ) -> Params:
        """Return the params of the earliest matching answered call that no earlier wait_for returned.

        Waits up to `timeout` seconds for the fake to answer it, so its effects (a stored message, an
        entry in `sent_messages`) are visible on return; calls answered with an injected fault count.
        """
        return await self._log.wait_for(method, predicate, timeout)

    async def wait_for_count(self, method: str, n: int, timeout: float = 10.0) -> list[Params]:
        """Wait until at least `n` calls of `method` were answered; return all of their params."""
        return await self._log.wait_for_count(method, n, timeout)

    def fail_next(
        self,
        method: str,
        times: int = 1,
        status: int = 502,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        disconnect: bool = False,
        hang: bool = False,
    ) -> None:
        """Answer the next `times` calls of `method` with an error instead of handling them.

        `method` may be `DOWNLOAD` for file downloads, whose 5xx answers are HTML pages as a web
        server's are. status 429 adds `parameters.retry_after` (default 1 s), which PTB raises as
        RetryAfter; `disconnect=True` drops the connection without an answer, which PTB raises as
        NetworkError; `hang=True` never answers in time, which PTB raises as TimedOut.
        """
        self._routes.fail_next(
            method,
            times,
            status,
            retry_after=retry_after,
            description=description,
            disconnect=disconnect,
            hang=hang,
        )


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
