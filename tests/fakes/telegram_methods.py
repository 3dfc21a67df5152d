"""The Bot API's behaviour over an in-memory world of chats, messages, files and pending updates.

`BotApi.dispatch` answers one method call with a result or raises `BotApiError` carrying the real
API's error text; `telegram_api.FakeTelegram` wraps it in HTTP, recording and scripting.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fakes import telegram_objects as tgo

MAX_MESSAGE_CHARS = 4096
MAX_CAPTION_CHARS = 1024
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")

Params = dict[str, Any]


class BotApiError(Exception):
    """An error answer: HTTP status `code`, the API's `description`, optional `parameters`."""

    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.parameters = parameters


class Signal:
    """Wakes every waiter on each change; waiters re-check their own condition (no lost wake-ups)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Return at the next change or after `timeout` seconds, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


class BotApi:
    """In-memory Bot API: message ids are per chat and increasing, for users' and the bot's messages."""

    def __init__(self, *, bot_id: int, bot_username: str, max_download_bytes: int, signal: Signal) -> None:
        self.bot = tgo.bot_user(bot_id, bot_username)
        self.max_download_bytes = max_download_bytes
        self.closing = False
        self._signal = signal
        self._chats: dict[int | str, dict[str, Any]] = {}
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._message_ids: dict[int | str, itertools.count[int]] = {}
        self._files: dict[str, tgo.StoredFile] = {}
        self.files_by_path: dict[str, tgo.StoredFile] = {}
        self._file_numbers = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._allowed_updates: set[str] | None = None
        self._poll_generation = 0
        self._webhook_url = ""
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: getChatMember's status per (chat, user); anyone not listed is a plain "member".
        self.member_statuses: dict[tuple[int | str, int], str] = {}
        handlers: dict[str, Callable[[Params], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "logOut": _ok,
            "close": _ok,
            "getFile": self._get_file,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendPhoto": self._media_sender("photo"),
            "sendVoice": self._media_sender("voice"),
            "sendAudio": self._media_sender("audio"),
            "sendDocument": self._media_sender("document"),
            "answerCallbackQuery": self._answer_callback_query,
            "getChatMember": self._get_chat_member,
        }
        # Method names are case-insensitive in the real API.
        self._handlers = {name.lower(): handler for name, handler in handlers.items()}

    def implements(self, method: str) -> bool:
        return method.lower() in self._handlers

    async def dispatch(self, method: str, params: Params) -> Any:
        """The `result` for one call; unknown methods answer `true` (or a bare message for send*)."""
        handler = self._handlers.get(method.lower())
        if handler is not None:
            return await handler(params)
        if method.lower().startswith("send") and "chat_id" in params:
            return self._bot_message(params, {})
        return True

    # -- the world, also used by FakeTelegram's factories ------------------------------------------

    def store_file(
        self, data: bytes, *, folder: str, suffix: str, file_size: int | None = None
    ) -> tgo.StoredFile:
        number = next(self._file_numbers)
        file = tgo.StoredFile(
            file_id=f"fake-file-{number}",
            file_unique_id=f"fake-unique-{number}",
            file_path=f"{folder}/file_{number}{suffix}",
            data=bytes(data),
            file_size=len(data) if file_size is None else file_size,
        )
        self._files[file.file_id] = file
        self.files_by_path[file.file_path] = file
        return file

    def enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        """Add an update for getUpdates; a deep copy, so later edits don't change what is delivered."""
        update = {"update_id": next(self._update_ids), **copy.deepcopy(update)}
        self._updates.append(update)
        self._signal.notify()
        return update

    def user_message(
        self,
        chat_id: int,
        sender: dict[str, Any],
        chat_type: str,
        content: dict[str, Any],
        reply_to: int | None,
    ) -> dict[str, Any]:
        """Record a message a user sent (creating the chat) and return it; the caller enqueues it."""
        self._chats[chat_id] = tgo.chat(chat_id, chat_type, sender)
        if reply_to is not None and (chat_id, reply_to) not in self._messages:
            raise ValueError(f"chat {chat_id} has no message {reply_to} to reply to")
        return self._new_message(chat_id, sender, content, reply_to)

    def message(self, chat_id: int | str, message_id: int) -> dict[str, Any] | None:
        """The current state of a message (after edits), or None if unknown or deleted."""
        return copy.deepcopy(self._messages.get((chat_id, message_id)))

    def _new_message(
        self, chat_id: int | str, sender: dict[str, Any], content: dict[str, Any], reply_to: int | None
    ) -> dict[str, Any]:
        ids = self._message_ids.setdefault(chat_id, itertools.count(1))
        message = {"message_id": next(ids), "from": sender, "chat": self._chats[chat_id], "date": _now()}
        if reply_to is not None and (chat_id, reply_to) in self._messages:
            replied = copy.deepcopy(self._messages[(chat_id, reply_to)])
            replied.pop("reply_to_message", None)  # the API nests only one level
            message["reply_to_message"] = replied
        message.update(content)
        self._messages[(chat_id, message["message_id"])] = message
        return copy.deepcopy(message)

    # -- updates -----------------------------------------------------------------------------------

    async def _get_updates(self, params: Params) -> list[dict[str, Any]]:
        if self._webhook_url:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if params.get("allowed_updates") is not None:  # absent means "keep the previous setting"
            self._allowed_updates = set(params["allowed_updates"]) or None
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        # A newer getUpdates ends older long polls with 409, as the real API does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._signal.notify()
        deadline = asyncio.get_running_loop().time() + float(params.get("timeout") or 0)
        while True:
            batch = [u for u in self._updates if self._is_allowed(tgo.update_kind(u))][:limit]
            if batch or self.closing:
                return batch
            if generation != self._poll_generation:
                raise BotApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return []
            await self._signal.wait(remaining)

    def _is_allowed(self, kind: str) -> bool:
        if self._allowed_updates is None:
            return kind not in tgo.DEFAULT_EXCLUDED_UPDATES
        return kind in self._allowed_updates

    async def _set_webhook(self, params: Params) -> bool:
        self._webhook_url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _delete_webhook(self, params: Params) -> bool:
        self._webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: Params) -> dict[str, Any]:
        return {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    # -- bot identity, files, commands -------------------------------------------------------------

    async def _get_me(self, params: Params) -> dict[str, Any]:
        return self.bot

    async def _get_file(self, params: Params) -> dict[str, Any]:
        file = self._files.get(str(_require(params, "file_id")))
        if file is None:
            raise BotApiError(400, "Bad Request: invalid file_id")
        if file.file_size > self.max_download_bytes:
            raise BotApiError(400, "Bad Request: file is too big")
        return file.as_file()

    async def _set_my_commands(self, params: Params) -> bool:
        commands = _require(params, "commands")
        for command in commands:
            if not _COMMAND_NAME_RE.fullmatch(command.get("command", "")):
                raise BotApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise BotApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self._commands[_commands_key(params)] = commands
        return True

    async def _get_my_commands(self, params: Params) -> list[dict[str, Any]]:
        return self._commands.get(_commands_key(params), [])

    async def _delete_my_commands(self, params: Params) -> bool:
        self._commands.pop(_commands_key(params), None)
        return True

    async def _get_chat_member(self, params: Params) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        user_id = int(_require(params, "user_id"))
        status = self.member_statuses.get((chat_id, user_id), "member")
        return tgo.chat_member(tgo.user(user_id), status)

    async def _answer_callback_query(self, params: Params) -> bool:
        _require(params, "callback_query_id")
        return True

    # -- messages ----------------------------------------------------------------------------------

    async def _send_message(self, params: Params) -> dict[str, Any]:
        text = params.get("text")
        if not text:
            raise BotApiError(400, "Bad Request: message text is empty")
        if len(str(text)) > MAX_MESSAGE_CHARS:
            raise BotApiError(400, "Bad Request: message is too long")
        content: dict[str, Any] = {"text": str(text)}
        if params.get("entities"):
            content["entities"] = params["entities"]
        return self._bot_message(params, content)

    async def _send_chat_action(self, params: Params) -> bool:
        self._chat_id(params)
        _require(params, "action")
        return True

    async def _edit_message_text(self, params: Params) -> dict[str, Any] | bool:
        text = params.get("text")
        if not text:
            raise BotApiError(400, "Bad Request: message text is empty")
        if params.get("inline_message_id"):
            return True
        message = self._messages.get((self._chat_id(params), int(_require(params, "message_id"))))
        if message is None:
            raise BotApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot["id"] or "text" not in message:
            raise BotApiError(400, "Bad Request: message can't be edited")
        markup = _inline_markup(params)
        if message["text"] == text and message.get("reply_markup") == markup:
            raise BotApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup "
                "are exactly the same as a current content and reply markup of the message",
            )
        message.update(text=str(text), edit_date=_now())
        for key, value in (("entities", params.get("entities")), ("reply_markup", markup)):
            if value:
                message[key] = value
            else:
                message.pop(key, None)
        return copy.deepcopy(message)

    async def _delete_message(self, params: Params) -> bool:
        key = (self._chat_id(params), int(_require(params, "message_id")))
        if self._messages.pop(key, None) is None:
            raise BotApiError(400, "Bad Request: message to delete not found")
        return True

    def _media_sender(self, field: str) -> Callable[[Params], Awaitable[dict[str, Any]]]:
        async def send(params: Params) -> dict[str, Any]:
            value = params.get(field)
            if isinstance(value, tgo.UploadedFile):
                file = self.store_file(value.data, folder=f"{field}s", suffix="")
                name, mime = value.filename, value.content_type
            elif isinstance(value, str) and value in self._files:
                file, name, mime = self._files[value], None, None
            elif isinstance(value, str) and value.startswith(("http://", "https://")):
                file, name, mime = self.store_file(b"", folder=f"{field}s", suffix=""), None, None
            elif value is None:
                raise BotApiError(400, f"Bad Request: there is no {field} in the request")
            else:
                raise BotApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            content: dict[str, Any] = {field: _media_object(field, file, name, mime, params)}
            caption = params.get("caption")
            if caption:
                if len(str(caption)) > MAX_CAPTION_CHARS:
                    raise BotApiError(400, "Bad Request: message caption is too long")
                content["caption"] = str(caption)
            return self._bot_message(params, content)

        return send

    def _bot_message(self, params: Params, content: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat_id(params)
        reply = params.get("reply_parameters") or {}
        reply_to = reply.get("message_id", params.get("reply_to_message_id"))
        allow_missing = reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply"))
        if reply_to is not None and (chat_id, int(reply_to)) not in self._messages and not allow_missing:
            raise BotApiError(400, "Bad Request: message to be replied not found")
        markup = _inline_markup(params)
        if markup:
            content["reply_markup"] = markup  # only inline keyboards are echoed back in the Message
        sender = {key: self.bot[key] for key in ("id", "is_bot", "first_name", "username")}
        return self._new_message(chat_id, sender, content, None if reply_to is None else int(reply_to))

    def _chat_id(self, params: Params) -> int | str:
        chat_id = _require(params, "chat_id")
        if chat_id not in self._chats:
            raise BotApiError(400, "Bad Request: chat not found")
        return chat_id


def _media_object(
    field: str, file: tgo.StoredFile, name: str | None, mime: str | None, params: Params
) -> Any:
    if field == "photo":
        return [{**file.as_reference(), "width": 1280, "height": 960}]
    media = file.as_reference()
    if field in ("voice", "audio"):
        media["duration"] = int(params.get("duration") or 0)
        media["mime_type"] = mime or ("audio/ogg" if field == "voice" else "audio/mpeg")
    if field == "audio":
        media.update({k: params[k] for k in ("title", "performer") if params.get(k)})
    if field in ("audio", "document"):
        media["file_name"] = name or f"{field}.bin"
        media.setdefault("mime_type", mime or "application/octet-stream")
    return media


def _inline_markup(params: Params) -> dict[str, Any] | None:
    markup = params.get("reply_markup")
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _commands_key(params: Params) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


def _require(params: Params, name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise BotApiError(400, f"Bad Request: {name} is empty")
    return value


async def _ok(params: Params) -> bool:
    return True


def _now() -> int:
    return int(time.time())
