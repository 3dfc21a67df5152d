"""A fake Discord (REST API, gateway websocket and attachment CDN on one local aiohttp server).

`server` wires `state` (the world and what was recorded) to `rest`, `gateway` and `cdn`; `interactions`
builds the payloads a user's slash command or context menu would send. Importers need only these names.
"""

from tests.fakes.discord_api.server import FakeDiscord, patch_discord
from tests.fakes.discord_api.state import EPHEMERAL_FLAG, Call

__all__ = ["EPHEMERAL_FLAG", "Call", "FakeDiscord", "patch_discord"]
