"""The hostile-file corpus attached to /describe: a private plain refusal or a public description.

Several commands are in flight at once; each gets one follow-up. The bot keeps answering.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace

import pytest

from bot.core import texts
from bot.core.service import ServiceOptions
from tests.discord.driver import Driver
from tests.discord.harness import SERVICE_OPTIONS
from tests.fakes.bad_images import DAMAGED, EMPTY, NOT_A_PICTURE, TOO_BIG, UNSUPPORTED, HostileFile, corpus
from tests.fakes.discord_api import EPHEMERAL_FLAG
from tests.fakes.engine import RecordingEngine

REFUSALS = (EMPTY, DAMAGED, NOT_A_PICTURE, UNSUPPORTED, TOO_BIG)
FAILURES = (texts.FAILED, texts.UNAVAILABLE, texts.TIMEOUT, texts.BUSY, texts.STOPPING)


@pytest.fixture
def service_options() -> ServiceOptions:
    """The limits tests/core/test_hostile_images.py uses, so each file meets the same fate at every door."""
    return replace(
        SERVICE_OPTIONS, max_image_bytes=5 * 1024 * 1024, max_image_pixels=10_000_000, photos_per_minute=1000
    )


def misfit(hostile: HostileFile, content: str, private: bool) -> str | None:
    """Why the bot's follow-up to `hostile` is wrong, or None when it is right."""
    if "Traceback" in content or "Error" in content:
        return f"a traceback or exception name in {content!r}"
    if hostile.accepted and (private or content in FAILURES or any(w in content for w in REFUSALS)):
        return f"refused: {content!r}"
    if not hostile.accepted and not (private and hostile.refusal in content and content.endswith(".")):
        return f"not refused privately with {hostile.refusal!r}: {content!r}"
    return None


async def test_every_hostile_attachment_gets_one_plain_follow_up(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    lanes = asyncio.Semaphore(4)  # several at once; dozens at once outrun SQLite's write lock

    async def describe(hostile: HostileFile) -> tuple[str, bool]:
        async with lanes:
            return await describe_one(hostile)

    async def describe_one(hostile: HostileFile) -> tuple[str, bool]:
        attachment = driver.fake.add_attachment(hostile.data, "photo.jpg", "image/jpeg")
        payload, callback = await driver.command("describe", {"image": attachment})
        if callback.json["type"] == 4:  # answered at once, without deferring
            return callback.json["data"]["content"], bool(
                callback.json["data"].get("flags", 0) & EPHEMERAL_FLAG
            )
        followup = await driver.followup(payload, timeout=60)
        return followup.json["content"], bool(followup.json.get("flags", 0) & EPHEMERAL_FLAG)

    answers = await asyncio.gather(*(describe(hostile) for hostile in corpus()))
    wrong = {
        hostile.name: problem
        for hostile, (content, private) in zip(corpus(), answers, strict=True)
        if (problem := misfit(hostile, content, private))
    }
    assert wrong == {}
    described = {hashlib.sha256(h.data).hexdigest() for h in corpus() if h.accepted}
    assert {request.image_key for request in engine.requests} == described
    payload, _ = await driver.command("describe", {"image": driver.photo(seed=12)})
    assert (await driver.followup(payload)).json["content"]
