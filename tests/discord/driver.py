"""Drive FakeDiscord like a user would: invoke a command, press a button, read what the bot sent."""

from __future__ import annotations

import re
import secrets
from typing import Any

from tests.fakes import photos
from tests.fakes.discord_api import EPHEMERAL_FLAG, Call, FakeDiscord


class Driver:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    # what a user sends

    def photo(self, seed: int = 0, name: str = "photo.jpg") -> dict:
        return self.fake.add_attachment(photos.jpeg(seed), name, "image/jpeg", width=64, height=48)

    async def invoke(self, payload: dict) -> Call:
        """Dispatch an interaction and return the bot's callback to it (its acknowledgement)."""
        await self.fake.dispatch_interaction(payload)
        token = re.escape(payload["token"])
        return await self.fake.wait_for("POST", rf"/interactions/{payload['id']}/{token}/callback")

    async def command(self, name: str, options: dict | None = None, **kwargs: Any) -> tuple[dict, Call]:
        payload = self.fake.slash_command(name, options, **kwargs)
        return payload, await self.invoke(payload)

    async def autocomplete(self, name: str, options: dict, focused: str) -> list[dict]:
        """What the bot suggests while the user types option `focused` of `/name` (type 4, answered 8)."""
        payload = self.fake.slash_command(name, options)
        payload["type"] = 4
        for option in payload["data"]["options"]:
            option["focused"] = option["name"] == focused
        callback = await self.invoke(payload)
        assert callback.json["type"] == 8
        return callback.json["data"]["choices"]

    def button_press(self, command: dict, message: dict, custom_id: str, user: dict | None = None) -> dict:
        """A MESSAGE_COMPONENT interaction (type 3) for a button on `message`, in the command's channel."""
        payload = {
            **command,
            "id": self.fake.snowflake(),
            "token": secrets.token_urlsafe(48),
            "type": 3,
            "data": {"custom_id": custom_id, "component_type": 2},
            "message": message,
        }
        if user is not None:
            if "member" in payload:
                payload["member"] = self.fake.member(user)
            else:
                payload["user"] = user
        return payload

    # what the bot sent

    async def followup(self, payload: dict, timeout: float = 10.0) -> Call:
        """The next follow-up message the bot sent for this interaction."""
        path = rf"/webhooks/{self.fake.application_id}/{re.escape(payload['token'])}"
        return await self.fake.wait_for("POST", path, timeout=timeout)

    async def original_edit(self, payload: dict, timeout: float = 10.0) -> Call:
        path = rf"/webhooks/{self.fake.application_id}/{re.escape(payload['token'])}/messages/@original"
        return await self.fake.wait_for("PATCH", path, timeout=timeout)

    async def original_deleted(self, payload: dict, timeout: float = 10.0) -> Call:
        path = rf"/webhooks/{self.fake.application_id}/{re.escape(payload['token'])}/messages/@original"
        return await self.fake.wait_for("DELETE", path, timeout=timeout)

    async def private_followup(self, payload: dict) -> str:
        """A deferred interaction's private answer: the thinking message goes, an ephemeral one comes."""
        await self.original_deleted(payload)
        followup = await self.followup(payload)
        assert followup.json["flags"] & EPHEMERAL_FLAG
        return followup.json["content"]

    def sent_message(self, content: str) -> dict:
        """The bot's stored message with this content (its id is what the bot links to the photo)."""
        [message] = [
            m
            for m in self.fake.messages.values()
            if m["author"]["id"] == self.fake.bot_user["id"] and m["content"] == content
        ]
        return message

    def cdn_downloads(self) -> list[Call]:
        return [c for c in self.fake.calls if c.path.startswith("/cdn/")]


def is_ephemeral(call: Call) -> bool:
    return bool((call.json.get("data") or call.json).get("flags", 0) & EPHEMERAL_FLAG)


async def settle(adapter: Any) -> None:
    """Wait until the adapter has finished every interaction it started (links stored, and so on)."""
    assert await adapter.client.handlers.inflight.wait_idle(10.0)
