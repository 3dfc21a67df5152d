"""The hostile-file corpus through the HTTP API, as data: URIs, one live server for all of them.

Each file is a prediction that succeeds or fails with the same plain sentence the chat platforms
give, never a 500 and never a traceback, and the server keeps answering afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging

import httpx
import pytest

from tests.api.conftest import RunningApi, running_api
from tests.fakes import photos
from tests.fakes.bad_images import HostileFile, by_name, corpus
from tests.fakes.engine import FakeEngine

PREDICTIONS = "/v1/models/blipbot/blip-2/predictions"
#: The limits tests/core/test_hostile_images.py uses, so each file meets the same fate at every door.
LIMITS = {"max_image_bytes": 5 * 1024 * 1024, "max_image_pixels": 10_000_000, "photos_per_minute": 1000}


def as_data_uri(data: bytes) -> str:
    """Every file claims to be a JPEG: the bytes decide, not the label."""
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


async def predict(http: httpx.AsyncClient, image: str) -> httpx.Response:
    return await http.post(PREDICTIONS, json={"input": {"image": image}}, headers={"Prefer": "wait=20"})


def misfit(hostile: HostileFile, response: httpx.Response) -> str | None:
    """Why the API's answer to `hostile` is wrong, or None when it is right."""
    if response.status_code != 201:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    prediction = response.json()
    error = prediction.get("error") or ""
    if "Traceback" in error or 'File "' in error or "Error" in error:
        return f"a traceback or exception name in {error!r}"
    if hostile.accepted:
        if prediction["status"] != "succeeded" or not prediction["output"]:
            return f"not described: {prediction['status']} {error!r}"
    elif prediction["status"] != "failed" or hostile.refusal not in error or not error.endswith("."):
        return f"not refused with {hostile.refusal!r}: {prediction['status']} {error!r}"
    return None


@pytest.fixture
async def guarded_api(tmp_path):
    brief = {"accessibility": {"detail": "brief"}, "inference": {"batch_wait_ms": 0}}  # one request a photo
    async with running_api(tmp_path, FakeEngine(), limits=LIMITS, **brief) as running:
        yield running


async def test_every_hostile_file_is_a_plain_failure_or_a_description_never_a_500(
    guarded_api: RunningApi, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING)
    async with guarded_api.http() as http:
        lanes = asyncio.Semaphore(4)  # several at once, as a busy server sees them

        async def answer(hostile: HostileFile) -> httpx.Response:
            async with lanes:
                return await predict(http, as_data_uri(hostile.data))

        answers = await asyncio.gather(*(answer(hostile) for hostile in corpus()))
        wrong = {h.name: misfit(h, response) for h, response in zip(corpus(), answers, strict=True)}
        assert {name: problem for name, problem in wrong.items() if problem} == {}
        described = {hashlib.sha256(hostile.data).hexdigest() for hostile in corpus() if hostile.accepted}
        assert {request.image_key for request in guarded_api.engine.requests} == described
        # Still answering, and still describing.
        assert (await http.get("/healthz")).status_code == 200
        after = await predict(http, as_data_uri(photos.jpeg(seed=9)))
        assert after.json()["status"] == "succeeded"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "Traceback" not in caplog.text


async def test_a_hostile_file_uploaded_to_v1_files_fails_its_prediction_plainly(guarded_api: RunningApi):
    """The other way in: an upload kept by the server, then named by its URL."""
    async with guarded_api.http() as http:
        bomb = by_name("bomb-jpeg")
        uploaded = await http.post("/v1/files", files={"content": ("photo.jpg", bomb.data, "image/jpeg")})
        assert uploaded.status_code in (200, 201), uploaded.text
        made = await predict(http, uploaded.json()["urls"]["get"])
    assert made.status_code == 201 and made.json()["status"] == "failed"
    assert "too big for me to look at" in made.json()["error"]
