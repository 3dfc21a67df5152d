"""Register blipbot's slash commands with Discord, but only when they changed since the last start.

Discord rate-limits command registration, so the JSON of every command (per target guild) is hashed
and the hash kept in a small file under `discord.state_dir`; a start with the same hash skips the sync.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import discord
from discord import app_commands

log = logging.getLogger(__name__)


def state_file(state_dir: Path, application_id: int) -> Path:
    """One file per application, so two bots sharing a directory never mistake each other's hash."""
    return state_dir / f"discord-commands-{application_id}.sha256"


def target_scopes(tree: app_commands.CommandTree, guild_ids: list[int]) -> list[discord.Object | None]:
    """Move the tree's commands to the configured guilds (instant) or leave them global (None).

    With guilds configured the global scope is synced empty, so commands registered globally by an
    earlier start do not show up twice in those guilds.
    """
    if not guild_ids:
        return [None]
    guilds = [discord.Object(guild_id) for guild_id in guild_ids]
    for guild in guilds:
        tree.copy_global_to(guild=guild)
    tree.clear_commands(guild=None)
    return [None, *guilds]


def commands_hash(tree: app_commands.CommandTree, scopes: list[discord.Object | None]) -> str:
    payload = {
        str(scope.id if scope else "global"): [
            command.to_dict(tree) for command in tree.get_commands(guild=scope)
        ]
        for scope in scopes
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


async def sync_commands(
    tree: app_commands.CommandTree, application_id: int, guild_ids: list[int], state_dir: Path
) -> bool:
    """Sync when the commands differ from the last successful sync; returns whether it synced.

    A failed sync is logged and not recorded, so the next start tries again; the bot still runs.
    """
    scopes = target_scopes(tree, guild_ids)
    digest = commands_hash(tree, scopes)
    path = state_file(state_dir, application_id)
    try:
        if path.read_text(encoding="utf-8").strip() == digest:
            log.info("discord commands unchanged since the last sync; not syncing")
            return False
    except OSError:
        pass  # no file yet (first start) or unreadable: sync
    for scope in scopes:
        where = "globally" if scope is None else f"in guild {scope.id}"
        try:
            synced = await tree.sync(guild=scope)
        except discord.Forbidden:
            log.error(
                "cannot register the slash commands %s: is the bot in that guild, invited with the "
                "applications.commands scope?", where,
            )  # fmt: skip
            return False
        except discord.HTTPException as error:
            log.error("registering the slash commands %s failed: %s", where, error)
            return False
        log.info("registered %d discord commands %s", len(synced), where)
    _write(path, digest)
    return True


def _write(path: Path, digest: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(digest + "\n", encoding="utf-8")
        partial.replace(path)  # atomic: a crash never leaves half a hash that could match
    except OSError as error:
        log.warning("could not record the command hash in %s (%s); the next start syncs again", path, error)
