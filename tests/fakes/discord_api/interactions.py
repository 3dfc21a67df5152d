"""INTERACTION_CREATE payloads for slash commands and message context menus, as a user's click sends them.

They reuse the ids of the commands the bot synced, as discord.py's command tree looks commands up by
id; `FakeDiscord.slash_command` and `context_menu` build them, `dispatch_interaction` sends them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from tests.fakes.discord_api.state import EVERYONE_PERMISSIONS, DiscordState

ATTACHMENT_SIZE_LIMIT_BYTES = 10 * 1024 * 1024
OPTION_TYPE_ATTACHMENT = 11
OPTION_TYPE_USER = 6


def slash_command(
    state: DiscordState,
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
    command = state.synced_command(name, 1, guild)
    declared = {o["name"]: o["type"] for o in (command or {}).get("options", [])}
    resolved: dict[str, dict] = {}
    for attachment in attachments:
        resolved.setdefault("attachments", {})[attachment["id"]] = attachment
    sent_options = []
    for option_name, value in (options or {}).items():
        option_type = declared.get(option_name) or _option_type(value)
        if isinstance(value, dict):
            kind = "attachments" if option_type == OPTION_TYPE_ATTACHMENT else "users"
            resolved.setdefault(kind, {})[value["id"]] = value
            if kind == "users" and guild:
                resolved.setdefault("members", {})[value["id"]] = state.member(value, with_user=False)
            value = value["id"]
        sent_options.append({"name": option_name, "type": option_type, "value": value})
    data: dict[str, Any] = {"name": name, "type": 1, "options": sent_options}
    if resolved:
        data["resolved"] = resolved
    return _interaction(state, data, command, user=user, channel_id=channel_id, guild=guild)


def context_menu(state: DiscordState, name: str, target_message: dict, *, user: dict | None = None) -> dict:
    """An INTERACTION_CREATE payload for the message context menu `name` on `target_message`."""
    guild = "guild_id" in target_message
    data = {
        "name": name,
        "type": 3,
        "target_id": target_message["id"],
        "resolved": {"messages": {target_message["id"]: target_message}},
    }
    command = state.synced_command(name, 3, guild)
    return _interaction(state, data, command, user=user, channel_id=target_message["channel_id"], guild=guild)


def _interaction(
    state: DiscordState,
    data: dict,
    command: dict | None,
    *,
    user: dict | None,
    channel_id: Any,
    guild: bool,
) -> dict:
    user = user or state.default_user
    data["id"] = command["id"] if command else state.snowflake()
    if command and command.get("guild_id"):
        data["guild_id"] = command["guild_id"]  # the tree looks guild commands up by this
    payload: dict[str, Any] = {
        "id": state.snowflake(),
        "application_id": str(state.application_id),
        "type": 2,
        "data": data,
        "token": secrets.token_urlsafe(48),
        "version": 1,
        "locale": "en-US",
        "app_permissions": str(EVERYONE_PERMISSIONS),
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT_BYTES,
    }
    if guild:
        channel = state.channels[str(channel_id or state.channel_id)]
        payload.update(
            guild_id=str(state.guild_id),
            guild={"id": str(state.guild_id), "locale": "en-US", "features": []},
            guild_locale="en-US",
            member=state.member(user),
            context=0,
            authorizing_integration_owners={"0": str(state.guild_id)},
        )
    else:
        channel = state.dm_channel(user)
        payload.update(user=user, context=1, authorizing_integration_owners={"0": "0"})
    payload.update(channel_id=channel["id"], channel=channel)
    return payload


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, dict):
        return OPTION_TYPE_ATTACHMENT if "filename" in value else OPTION_TYPE_USER
    return 3
