"""The REST API under /api/v10: login, command sync, interaction callbacks, webhook follow-ups and
edits, channel messages and DMs, with Discord's status codes and error codes for the bot's mistakes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes.discord_api.state import (
    API_PREFIX,
    EPHEMERAL_FLAG,
    LOADING_FLAG,
    Call,
    DiscordState,
    FakeFile,
    PendingInteraction,
    now,
)

Handler = Callable[[re.Match, Call], web.Response]


class FakeRestApi:
    """Routes a recorded request to its handler; unknown routes are recorded in `state.unhandled`."""

    def __init__(self, state: DiscordState) -> None:
        self._state = state
        self._routes: list[tuple[str, str, Handler]] = [
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway),
            ("GET", r"/users/@me", lambda m, c: _json(state.bot_user)),
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

    def answer(self, request: web.Request, call: Call) -> web.Response:
        """Answer `call` (already recorded) the way Discord would, checking the bot token first."""
        if not request.path.startswith(API_PREFIX + "/"):
            return _error(404, 0, "404: Not Found")
        path = call.path
        auth = request.headers.get("Authorization")
        needs_auth = not path.startswith(("/webhooks/", "/interactions/"))
        if auth != f"Bot {self._state.token}" and (auth is not None or needs_auth):
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
        self._state.unhandled.append(call)
        return _error(404, 0, f"404: Not Found (FakeDiscord has no route for {request.method} {path})")

    def _get_gateway(self, match: re.Match, call: Call) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self._state.gateway_url, "shards": 1, "session_start_limit": limit})

    def _put_commands(self, match: re.Match, call: Call) -> web.Response:
        state = self._state
        app_id, guild_id = match.groups()
        if app_id != str(state.application_id) or guild_id not in (None, str(state.guild_id)):
            return _error(403, 50001, "Missing Access")
        scope = int(guild_id) if guild_id else None
        state.command_puts += 1
        previous = {(c["name"], c.get("type", 1)): c["id"] for c in state.commands.get(scope, [])}
        stored = []
        for command in call.json:
            command_id = previous.get((command["name"], command.get("type", 1))) or state.snowflake()
            entry = {
                "type": 1,
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                **command,
            }
            entry.update(id=command_id, application_id=app_id, version=state.snowflake())
            if guild_id:
                entry["guild_id"] = guild_id
            stored.append(entry)
        state.commands[scope] = stored
        return _json(stored)

    def _get_commands(self, match: re.Match, call: Call) -> web.Response:
        guild_id = match.group(2)
        return _json(self._state.commands.get(int(guild_id) if guild_id else None, []))

    def _interaction_callback(self, match: re.Match, call: Call) -> web.Response:
        interaction_id, token = match.groups()
        pending = self._state.interactions.get(interaction_id)
        if pending is not None and pending.token == token and pending.called_at is None:
            pending.called_at = time.monotonic()
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
        elif callback_type == 7 and pending.original_id is not None:  # UPDATE_MESSAGE: the button's message
            self._existing_message(pending.original_id, Call("PATCH", call.path, data, call.files))
        return _json(response)

    def _acked_interaction(self, app_id: str, token: str) -> PendingInteraction | None:
        if app_id != str(self._state.application_id):
            return None
        pending = self._state.interactions.values()
        return next((p for p in pending if p.token == token and p.acked), None)

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
        messages = self._state.messages
        message = messages.get(message_id)
        if message is None:
            return _error(404, 10008, "Unknown Message")
        if call.method == "DELETE":
            del messages[message_id]
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
            message["edited_timestamp"] = now()
        return _json(message)

    def _get_channel(self, match: re.Match, call: Call) -> web.Response:
        channel = self._state.channels.get(match.group(1))
        return _json(channel) if channel else _error(404, 10003, "Unknown Channel")

    def _channel_message(self, match: re.Match, call: Call) -> web.Response:
        channel_id, message_id = match.group(1), match.group(2) if match.lastindex == 2 else None
        if channel_id not in self._state.channels:
            return _error(404, 10003, "Unknown Channel")
        if message_id is not None:
            return self._existing_message(message_id, call)
        message = self._bot_message(channel_id, call.json or {}, call.files, flags=0, webhook=False)
        reference = (call.json or {}).get("message_reference")
        if reference:
            message.update(type=19, message_reference={"channel_id": channel_id, **reference})
            replied_to = self._state.messages.get(str(reference["message_id"]))
            if replied_to is not None:
                message["referenced_message"] = replied_to
        return _json(message)

    def _create_dm(self, match: re.Match, call: Call) -> web.Response:
        recipient = str(call.json["recipient_id"])
        user = self._state.users.get(recipient) or self._state.user("user", user_id=recipient)
        return _json(self._state.dm_channel(user))

    def _bot_message(
        self, channel_id: str, fields: dict, files: list[FakeFile], *, flags: int, webhook: bool
    ) -> dict:
        state = self._state
        message = state.message(
            channel_id, fields.get("content") or "", state.bot_user, attachments=self._uploads(files)
        )
        message.update(
            embeds=fields.get("embeds") or [], components=fields.get("components") or [], flags=flags
        )
        if webhook:
            message.update(webhook_id=str(state.application_id), application_id=str(state.application_id))
        state.messages[message["id"]] = message
        return message

    def _uploads(self, files: list[FakeFile]) -> list[dict]:
        return [self._state.add_attachment(f.data, f.filename) for f in files]

    def _application(self) -> dict:
        state = self._state
        return {
            "id": str(state.application_id),
            "name": "blipbot",
            "icon": None,
            "description": "",
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": state.owner_user,
            "team": None,
            "flags": 0,
            "bot": state.bot_user,
            # A set endpoint URL means Discord would POST interactions there instead of the gateway.
            "interactions_endpoint_url": None,
        }


async def read_body(request: web.Request) -> tuple[Any, list[FakeFile]]:
    """The JSON body, or a multipart body's payload_json and its files (how discord.py uploads)."""
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


def _json(body: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly "application/json" (no charset).
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status)
