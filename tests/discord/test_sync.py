"""Command registration: once per change of the command tree or of the target guilds, not per start."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.discord import help as discord_help
from bot.discord.commands import DESCRIBE_MENU
from tests.discord.driver import Driver

COMMANDS = {"describe", "ask", "read", "alt", DESCRIBE_MENU, "reset", "forget", "privacy", "help"}
COMMANDS |= {"settings", "detail", "voice", "language"}
COMMANDS |= {"scan", "light", "colour", "codes", "lighthints", "colourcheck"}


def names(commands: list[dict]) -> set[str]:
    return {command["name"] for command in commands}


async def test_commands_are_registered_globally_once_and_not_again_on_a_restart(
    driver: Driver, start_adapter, tmp_path: Path
) -> None:
    fake = driver.fake
    first = await start_adapter()
    assert fake.command_puts == 1
    assert names(fake.commands[None]) == COMMANDS
    describe = next(c for c in fake.commands[None] if c["name"] == "describe")
    assert [(o["name"], o["type"], o.get("required", False)) for o in describe["options"]] == [
        ("image", 11, True),
        ("detail", 5, False),
    ]
    assert list((tmp_path / "state").glob("discord-commands-*.sha256"))
    await first.stop()

    await start_adapter()
    assert fake.command_puts == 1  # same tree, same targets: no PUT


async def test_configured_guilds_get_the_commands_and_the_global_list_is_emptied(
    driver: Driver, start_adapter
) -> None:
    fake = driver.fake
    await (await start_adapter()).stop()  # an earlier start registered them globally
    puts = fake.command_puts
    await (await start_adapter(guild_ids=[fake.guild_id])).stop()
    assert fake.command_puts == puts + 2
    assert fake.commands[None] == []
    assert names(fake.commands[fake.guild_id]) == COMMANDS

    await start_adapter(guild_ids=[fake.guild_id])
    assert fake.command_puts == puts + 2
    payload, callback = await driver.command("help")
    assert payload["data"]["guild_id"] == str(fake.guild_id)
    assert callback.json["data"]["content"] == discord_help.HELP


async def test_a_failed_registration_is_logged_and_retried_at_the_next_start(
    driver: Driver, start_adapter, tmp_path: Path, caplog
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot"):
        await start_adapter(guild_ids=[123])  # a guild the bot is not in: 403
    assert "cannot register the slash commands in guild 123" in caplog.text
    assert not list((tmp_path / "state").glob("discord-commands-*.sha256"))
