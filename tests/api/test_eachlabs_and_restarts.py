"""eachlabs' shape over the same store, and predictions that outlive a server stop."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime

import httpx

from bot.api.auth import token_hash
from storage import PredictionRecord, Store
from tests.api.conftest import TOKEN, running_api
from tests.fakes import photos
from tests.fakes.engine import FakeEngine


async def poll(http: httpx.AsyncClient, path: str, done: set[str], timeout_s: float = 20) -> dict:
    async with asyncio.timeout(timeout_s):
        while True:
            body = (await http.get(path)).json()
            if body["status"] in done:
                return body
            await asyncio.sleep(0.1)


async def test_eachlabs_create_and_poll_with_numbers_sent_as_strings(api):
    api.engine.enqueue("a red bicycle")
    image = "data:image/jpeg;base64," + base64.b64encode(photos.jpeg()).decode()
    body = {
        "model": "blip-2",
        "version": "0.0.1",
        "input": {"image": image, "caption": "false", "question": "what is it?", "temperature": "1"},
    }
    async with httpx.AsyncClient(base_url=api.url, headers={"X-API-Key": TOKEN}) as http:
        created = await http.post("/v1/prediction/", json=body)
        assert created.status_code == 200
        assert created.json()["status"] == "success"
        prediction_id = created.json()["predictionID"]
        done = await poll(http, f"/v1/prediction/{prediction_id}", {"success", "failed"})
        # The same prediction in Replicate's shape, and its status word there.
        replicate_shape = (await http.get(f"/v1/predictions/{prediction_id}")).json()
    assert done["status"] == "success" and done["output"] == "a red bicycle"
    assert done["metrics"]["predict_time"] > 0
    assert replicate_shape["status"] == "succeeded" and replicate_shape["output"] == "a red bicycle"
    assert api.engine.prompts == ["Question: what is it? Answer:"]


async def left_unfinished(url: str, image: str, status: str = "processing") -> str:
    """A prediction as a server killed mid-run leaves it in the store."""
    store = await Store.open(url)
    try:
        prediction_id = uuid.uuid4().hex
        await store.predictions.create(
            PredictionRecord(
                id=prediction_id,
                model="blipbot/blip-2",
                version="v",
                status=status,
                input={"image": image, "caption": True},
                source="replicate",
                created_at=datetime.now(UTC),
                token_hash=token_hash(TOKEN),
            )
        )
        return prediction_id
    finally:
        await store.close()


async def test_predictions_a_stopped_server_left_unfinished_finish_or_fail_after_a_restart(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/api.sqlite3"
    store = await Store.open(url)
    kept = await store.files.create("f" * 32, photos.png(), name="a.png", content_type="image/png",
                                    token_hash=token_hash(TOKEN))  # fmt: skip
    await store.close()
    lost = await left_unfinished(url, "http://127.0.0.1:9/gone.jpg")  # its photo is gone for good
    engine = FakeEngine()
    engine.enqueue("a caption after the restart")
    async with running_api(tmp_path, engine, storage={"url": url}) as api:  # the start recovers `lost`
        # One whose input names a file this server keeps (its URL needs the port, known only now).
        findable = await left_unfinished(url, f"{api.url}/v1/files/{kept.id}/download", "processing")
        assert await api.server.app.state.api.jobs.recover() == 1
        async with api.http() as http:
            finished = await poll(http, f"/v1/predictions/{findable}", {"succeeded", "failed"})
            failed = await poll(http, f"/v1/predictions/{lost}", {"succeeded", "failed"})
    assert finished["status"] == "succeeded" and finished["output"] == "a caption after the restart"
    assert failed["status"] == "failed" and "could not be reached" in failed["error"]


async def test_stopping_the_server_finishes_the_prediction_in_hand(tmp_path):
    engine = FakeEngine(delay_s=0.5)
    image = "data:image/png;base64," + base64.b64encode(photos.png()).decode()
    url = f"sqlite+aiosqlite:///{tmp_path}/api.sqlite3"
    async with running_api(tmp_path, engine, storage={"url": url}) as api, api.http() as http:
        made = (
            await http.post("/v1/models/blipbot/blip-2/predictions", json={"input": {"image": image}})
        ).json()
        await asyncio.sleep(0.2)  # the model has it now
    store = await Store.open(url)
    try:
        record = await store.predictions.get(made["id"])
    finally:
        await store.close()
    assert record is not None and record.status == "succeeded" and record.output
