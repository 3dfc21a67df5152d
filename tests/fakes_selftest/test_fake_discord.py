"""Drives the real discord.py client against FakeDiscord: login, sync, gateway, interactions, close."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fakes.discord_api import FakeDiscord, patch_discord

CLOSE_BUDGET_SECONDS = 2.0


class DescribeClient(discord.Client):
    """A minimal bot shaped like blipbot's adapter: a command tree synced in setup_hook."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(intents=discord.Intents.default())
        self.guild = discord.Object(guild_id)
        self.tree = app_commands.CommandTree(self)
        self.heard: asyncio.Queue[discord.Message] = asyncio.Queue()

        @self.tree.command(description="Describe an image")
        async def describe(interaction: discord.Interaction, image: discord.Attachment) -> None:
            await interaction.response.defer(thinking=True)
            data = await image.read()
            await interaction.followup.send(f"{len(data)} bytes")

        @self.tree.context_menu(name="Describe message")
        async def describe_message(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(
                f"{message.author.name} sent {len(message.attachments)} attachment(s)", ephemeral=True
            )

    async def setup_hook(self) -> None:
        # Global commands reach DMs; the guild copy shows up at once while developing.
        await self.tree.sync()
        self.tree.copy_global_to(guild=self.guild)
        await self.tree.sync(guild=self.guild)

    async def on_message(self, message: discord.Message) -> None:
        await self.heard.put(message)
        if self.user in message.mentions:
            await message.channel.send(f"heard: {message.content}")


@pytest.fixture
async def fake():
    async with FakeDiscord() as fake:
        with patch_discord(fake):
            yield fake


@pytest.fixture
async def client(fake: FakeDiscord):
    client = DescribeClient(fake.guild_id)
    await client.login(fake.token)
    connection = asyncio.create_task(client.connect(reconnect=False))
    await fake.wait_until_ready()
    yield client
    started = time.monotonic()
    await client.close()
    await asyncio.wait_for(connection, CLOSE_BUDGET_SECONDS)
    assert time.monotonic() - started < CLOSE_BUDGET_SECONDS


async def test_login_sync_and_identify_reach_the_fake(fake: FakeDiscord, client: DescribeClient) -> None:
    assert client.user is not None and client.user.id == fake.application_id
    assert client.application_id == fake.application_id
    assert fake.command_puts == 2
    assert {c["name"] for c in fake.commands[None]} == {"describe", "Describe message"}
    assert {c["name"] for c in fake.commands[fake.guild_id]} == {"describe", "Describe message"}
    assert fake.identify is not None and fake.identify["intents"] == discord.Intents.default().value
    assert not fake.unhandled


async def test_slash_command_defers_then_follows_up_with_attachment_size(
    fake: FakeDiscord, client: DescribeClient
) -> None:
    image = fake.add_attachment(b"\x89PNG" + bytes(1020), "cat.png", "image/png", width=4, height=4)
    interaction = fake.slash_command("describe", {"image": image})
    await fake.dispatch_interaction(interaction)

    token = re.escape(interaction["token"])
    callback = await fake.wait_for("POST", rf"/interactions/{interaction['id']}/{token}/callback")
    assert callback.json["type"] == 5
    await fake.wait_for("GET", rf"/cdn/attachments/\d+/{image['id']}/cat\.png")
    followup = await fake.wait_for("POST", rf"/webhooks/{fake.application_id}/{token}")
    assert followup.json["content"] == "1024 bytes"
    assert fake.callbacks(interaction["id"]) == [callback]
    assert fake.followups(interaction["token"]) == [followup]
    assert interaction["data"]["guild_id"] == str(fake.guild_id)  # resolved to the synced guild command


async def test_message_context_menu_on_another_users_message(
    fake: FakeDiscord, client: DescribeClient
) -> None:
    bob = fake.user("bob")
    photo = fake.add_attachment(b"jpeg", "dog.jpg")
    target = fake.message(fake.channel_id, "look at this", bob, attachments=[photo])
    interaction = fake.context_menu("Describe message", target)
    await fake.dispatch_interaction(interaction)

    callback = await fake.wait_for("POST", rf"/interactions/{interaction['id']}/.+/callback")
    assert callback.json["type"] == 4
    assert callback.json["data"]["content"] == "bob sent 1 attachment(s)"
    assert callback.json["data"]["flags"] == 64


async def test_slash_command_in_a_dm(fake: FakeDiscord, client: DescribeClient) -> None:
    image = fake.add_attachment(b"12345", "tiny.png")
    interaction = fake.slash_command("describe", {"image": image}, guild=False)
    assert "guild_id" not in interaction and "member" not in interaction
    await fake.dispatch_interaction(interaction)

    followup = await fake.wait_for("POST", rf"/webhooks/{fake.application_id}/.+")
    assert followup.json["content"] == "5 bytes"
    assert fake.callbacks(interaction["id"])[0].json["type"] == 5


async def test_guild_messages_follow_the_message_content_intent(
    fake: FakeDiscord, client: DescribeClient
) -> None:
    await fake.dispatch("MESSAGE_CREATE", fake.message(fake.channel_id, "nobody asked me"))
    plain = await asyncio.wait_for(client.heard.get(), 5)
    assert plain.content == ""  # Intents.default() lacks message_content

    mention = fake.message(fake.channel_id, f"<@{fake.bot_user['id']}> hi", mentions=[fake.bot_user])
    await fake.dispatch("MESSAGE_CREATE", mention)
    reply = await fake.wait_for("POST", rf"/channels/{fake.channel_id}/messages")
    assert reply.json["content"] == f"heard: <@{fake.bot_user['id']}> hi"


async def test_second_callback_and_unknown_routes_fail_like_discord(
    fake: FakeDiscord, client: DescribeClient
) -> None:
    interaction = fake.slash_command("describe", {"image": fake.add_attachment(b"x", "x.png")})
    await fake.dispatch_interaction(interaction)
    await fake.wait_for("POST", rf"/webhooks/{fake.application_id}/.+")
    callback_url = f"{fake.api_url}/interactions/{interaction['id']}/{interaction['token']}/callback"
    async with aiohttp.ClientSession() as session:
        async with session.post(callback_url, json={"type": 5}) as again:
            assert (again.status, (await again.json())["code"]) == (400, 40060)
        headers = {"Authorization": f"Bot {fake.token}"}
        async with session.get(f"{fake.api_url}/guilds/1/audit-logs", headers=headers) as unknown:
            assert unknown.status == 404
    assert [(c.method, c.path) for c in fake.unhandled] == [("GET", "/guilds/1/audit-logs")]


async def test_wrong_token_is_refused(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()


async def test_wait_for_names_recent_calls_when_nothing_matches(
    fake: FakeDiscord, client: DescribeClient
) -> None:
    with pytest.raises(TimeoutError, match=r"GET /users/@me"):
        await fake.wait_for("DELETE", r"/nothing", timeout=0.05)


async def test_patch_discord_restores_the_real_endpoints() -> None:
    real_base, real_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    async with FakeDiscord() as fake:
        with patch_discord(fake):
            assert fake.api_url == Route.BASE
            assert str(DiscordWebSocket.DEFAULT_GATEWAY) == fake.gateway_url
    assert (real_base, real_gateway) == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
