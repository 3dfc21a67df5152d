"""The official `replicate` client against the real server: run, create + wait, cancel, files, webhooks."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import httpx
import pytest
import replicate
from replicate.exceptions import ModelError
from replicate.webhook import InvalidSignatureError

from tests.api.conftest import running_api
from tests.fakes import photos
from tests.fakes.engine import FakeEngine, RecordingEngine
from tests.fakes.http_peers import image_host, webhook_receiver


async def test_run_with_a_local_file_returns_the_models_words_for_a_question_and_a_caption(
    tmp_path, tiny_engine
):
    engine = RecordingEngine(tiny_engine)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photos.jpeg(seed=3))
    async with running_api(tmp_path, engine) as api:
        client = api.client()
        with photo.open("rb") as image:
            answer = await api.call(
                client.run, "blipbot/blip-2", input={"image": image, "question": "what is this?"}
            )
        with photo.open("rb") as image:
            caption = await api.call(client.run, "blipbot/blip-2", input={"image": image, "caption": True})
    assert isinstance(answer, str) and answer.strip()
    assert isinstance(caption, str) and caption.strip()
    assert engine.prompts == ["Question: what is this? Answer:", ""]  # the caption prompt is empty


async def test_the_context_of_earlier_answers_is_in_the_prompt_the_model_sees(api):
    context = "Question: what is on the door? Answer: a sign."
    data_uri = "data:image/png;base64," + base64.b64encode(photos.png(seed=1)).decode()
    api.engine.enqueue("red")
    output = await api.call(
        api.client().run,
        "blipbot/blip-2",
        input={"image": data_uri, "question": "what colour is the sign?", "context": context},
    )
    assert output == "red"
    assert api.engine.prompts == [f"{context} Question: what colour is the sign? Answer:"]


async def test_an_image_url_served_by_another_server_is_fetched(api):
    async with image_host() as host:
        host.files["door.jpg"] = photos.jpeg(seed=5)
        api.engine.enqueue("a wooden door")
        output = await api.call(
            api.client().run, "blipbot/blip-2", input={"image": host.url("door.jpg"), "caption": True}
        )
    assert output == "a wooden door"
    assert host.hits == ["door.jpg"]


async def test_a_data_uri_is_kept_as_a_file_and_the_stored_input_holds_its_url_not_the_data(api):
    data_uri = "data:image/jpeg;base64," + base64.b64encode(photos.jpeg()).decode()
    client = api.client()
    prediction = await api.call(
        client.models.predictions.create, model="blipbot/blip-2", input={"image": data_uri}, wait=True
    )
    assert prediction.status == "succeeded"
    assert prediction.input["image"].startswith(f"{api.url}/v1/files/")
    async with api.http() as http:
        kept = await http.get(prediction.input["image"])
    assert kept.status_code == 200 and kept.content == photos.jpeg()


async def test_create_then_wait_by_version_polls_until_it_succeeds(tmp_path):
    engine = FakeEngine(delay_s=0.3)
    async with running_api(tmp_path, engine) as api:
        client = api.client()
        model = await api.call(client.models.get, "blipbot/blip-2")
        version = model.latest_version
        assert "question" in version.openapi_schema["components"]["schemas"]["Input"]["properties"]
        data_uri = "data:image/png;base64," + base64.b64encode(photos.png()).decode()
        prediction = await api.call(client.predictions.create, version=version.id, input={"image": data_uri})
        assert prediction.status in ("starting", "processing")
        await api.call(prediction.wait)
        assert prediction.status == "succeeded" and prediction.output
        assert prediction.metrics["predict_time"] > 0
        assert "prompt: 'Question: What is this a picture of? Answer:'" in prediction.logs
        # The pinned form owner/name:version goes through the versions endpoint too.
        output = await api.call(client.run, f"blipbot/blip-2:{version.id}", input={"image": data_uri})
        assert isinstance(output, str) and output


async def test_a_prediction_not_done_within_prefer_wait_comes_back_starting_and_the_client_polls(tmp_path):
    async with running_api(tmp_path, FakeEngine(delay_s=1.5), api={"max_wait_s": 0.5}) as api:
        data_uri = "data:image/png;base64," + base64.b64encode(photos.png()).decode()
        async with api.http() as http:
            waited = await http.post(
                "/v1/models/blipbot/blip-2/predictions",
                json={"input": {"image": data_uri}},
                headers={"Prefer": "wait"},
            )
        assert waited.status_code == 201 and waited.json()["status"] == "starting"
        output = await api.call(api.client().run, "blipbot/blip-2", input={"image": data_uri})
        assert output


async def test_cancel_stops_a_prediction_and_it_stays_canceled(tmp_path):
    engine = FakeEngine(delay_s=0.5)
    async with running_api(tmp_path, engine) as api:
        client = api.client()
        data_uri = "data:image/png;base64," + base64.b64encode(photos.png()).decode()
        first = await api.call(
            client.models.predictions.create, model="blipbot/blip-2", input={"image": data_uri}
        )
        second = await api.call(
            client.models.predictions.create, model="blipbot/blip-2", input={"image": data_uri}
        )
        await api.call(second.cancel)
        await api.call(first.wait)
        await asyncio.sleep(1.0)  # longer than the second would have taken
        again = await api.call(client.predictions.get, second.id)
    assert again.status == "canceled" and again.output is None and again.completed_at
    assert first.status == "succeeded"


async def test_a_webhook_delivers_completed_with_the_output_signed_with_the_servers_secret(api):
    async with webhook_receiver() as receiver:
        receiver.statuses = [503]  # the first try fails: `completed` is tried again
        client = api.client()
        data_uri = "data:image/png;base64," + base64.b64encode(photos.png()).decode()
        api.engine.enqueue("a cat on a mat")
        prediction = await api.call(
            client.models.predictions.create,
            model="blipbot/blip-2",
            input={"image": data_uri},
            webhook=receiver.url,
            webhook_events_filter=["completed"],
        )
        await receiver.wait_for(2)
        secret = await api.call(client.webhooks.default.secret)
    headers, body = receiver.received[-1]
    delivered = json.loads(body)
    assert delivered["id"] == prediction.id
    assert delivered["status"] == "succeeded" and delivered["output"] == "a cat on a mat"
    replicate.webhooks.validate(headers=headers, body=body.decode(), secret=secret)  # raises when forged
    forged = body.replace(b"a cat on a mat", b"a dog on a mat")
    with pytest.raises(InvalidSignatureError):
        replicate.webhooks.validate(headers=headers, body=forged.decode(), secret=secret)


async def test_a_failed_prediction_raises_model_error_with_a_plain_reason(api):
    data_uri = "data:text/plain;base64," + base64.b64encode(b"not a picture").decode()
    with pytest.raises(ModelError) as raised:
        await api.call(api.client().run, "blipbot/blip-2", input={"image": data_uri})
    assert "could not open that file as a picture" in str(raised.value)
    assert "Traceback" not in str(raised.value)


async def test_the_list_holds_only_the_callers_predictions_newest_first(api):
    data_uri = "data:image/png;base64," + base64.b64encode(photos.png()).decode()
    mine = [
        await api.call(
            api.client().models.predictions.create, model="blipbot/blip-2", input={"image": data_uri}
        )
        for _ in range(3)
    ]
    await api.call(api.client("other-token-9876543210").run, "blipbot/blip-2", input={"image": data_uri})
    async with api.http() as http:
        page = (await http.get("/v1/predictions")).json()
        other = await http.get(
            f"/v1/predictions/{mine[0].id}", headers={"Authorization": "Bearer other-token-9876543210"}
        )
    assert [p["id"] for p in page["results"]] == [p.id for p in reversed(mine)]
    assert page["next"] is None
    assert other.status_code == 404


async def test_uploaded_files_can_be_listed_read_and_deleted(api):
    photo_bytes = photos.jpeg(seed=9)
    client = api.client()

    uploaded = await api.call(
        client.files.create, io.BytesIO(photo_bytes), filename="cat.jpg", metadata={"k": "v"}
    )
    assert uploaded.size == len(photo_bytes) and uploaded.metadata == {"k": "v"}
    assert [f.id for f in await api.call(client.files.list)] == [uploaded.id]
    async with api.http() as http:
        assert (await http.get(uploaded.urls["get"])).content == photo_bytes
        anyone = await http.get(
            uploaded.urls["get"], headers={"Authorization": "Bearer other-token-9876543210"}
        )
    assert anyone.status_code == 404
    assert await api.call(client.files.delete, uploaded.id)
    async with api.http() as http:
        assert (await http.get(uploaded.urls["get"])).status_code == 404


async def test_healthz_and_metrics_report_the_model_queue_and_predictions(api):
    data_uri = "data:image/png;base64," + base64.b64encode(photos.png()).decode()
    await api.call(api.client().run, "blipbot/blip-2", input={"image": data_uri})
    async with httpx.AsyncClient(base_url=api.url) as http:
        health = (await http.get("/healthz")).json()
        metrics = (await http.get("/metrics")).text
    expected = {"status": "ok", "model": "fake-engine", "model_loaded": True, "queue_depth": 0}
    assert health == {**expected, "store_reachable": True}
    assert 'blipbot_predictions_total{status="succeeded"} 1.0' in metrics
    assert 'route="/v1/models/{owner}/{name}/predictions",status="201"' in metrics
    assert "blipbot_batches_total" in metrics and "blipbot_predict_time_seconds_count 1.0" in metrics


async def test_a_webhook_without_an_events_filter_hears_of_the_end(api):
    async with webhook_receiver() as receiver:
        data_uri = "data:image/png;base64," + base64.b64encode(photos.png()).decode()
        api.engine.enqueue("a lamp")
        await api.call(
            api.client().models.predictions.create,
            model="blipbot/blip-2",
            input={"image": data_uri},
            webhook=receiver.url,
        )
        await receiver.wait_for(1)
    _, body = receiver.received[0]
    assert json.loads(body)["output"] == "a lamp" and json.loads(body)["status"] == "succeeded"
