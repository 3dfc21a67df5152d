"""What the API refuses, and how: 401 for tokens, 422 for malformed bodies, a failed prediction with
a plain error for inputs that cannot be used. Never a 500, never a traceback in a response."""

from __future__ import annotations

import asyncio
import base64

import pytest
from aiohttp import web

from tests.api.conftest import TOKEN, running_api
from tests.fakes import photos
from tests.fakes.engine import FakeEngine
from tests.fakes.http_peers import image_host

MODEL_PREDICTIONS = "/v1/models/blipbot/blip-2/predictions"


def data_uri(data: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}, {"X-API-Key": "nope"}],
    ids=["none", "wrong", "other-scheme", "wrong-api-key"],
)
async def test_a_missing_or_wrong_token_gets_401_with_a_json_error(api, headers, caplog):
    async with api.http(token=None) as http:
        refused = await http.get("/v1/predictions", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    body = refused.json()
    assert body["status"] == 401 and body["title"] == "Unauthenticated" and body["detail"].endswith(".")
    assert TOKEN not in caplog.text and "wrong-token" not in caplog.text


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer"])
async def test_bearer_and_the_older_token_scheme_are_accepted(api, scheme):
    async with api.http(token=None) as http:
        accepted = await http.get("/v1/predictions", headers={"Authorization": f"{scheme} {TOKEN}"})
    assert accepted.status_code == 200


async def test_health_needs_no_token_and_the_rest_does(api):
    async with api.http(token=None) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/v1/models/blipbot/blip-2")).status_code == 401


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"input": {"image": "https://x.org/a.jpg", "colour": "red"}}, "input.colour: is not an input"),
        ({"input": {"image": "https://x.org/a.jpg", "temperature": "hot"}}, "input.temperature:"),
        ({"input": {"image": "https://x.org/a.jpg", "temperature": 3}}, "input.temperature:"),
        ({"input": {"image": "https://x.org/a.jpg", "caption": "maybe"}}, "input.caption:"),
        ({"input": {"question": "what?"}}, "input.image: Field required"),
        ({"inputs": {}}, "input: Field required"),
    ],
    ids=["unknown", "temperature-word", "temperature-range", "caption-word", "no-image", "no-input"],
)
async def test_malformed_bodies_get_422_naming_the_field_not_the_value(api, body, complaint):
    async with api.http() as http:
        refused = await http.post(MODEL_PREDICTIONS, json=body)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith(complaint)
    assert "hot" not in refused.json()["detail"]


async def test_numbers_and_booleans_sent_as_strings_are_accepted(api):
    api.engine.enqueue("a caption")
    body = {"input": {"image": data_uri(photos.png()), "caption": "true", "temperature": "0.7"}}
    async with api.http() as http:
        made = await http.post(MODEL_PREDICTIONS, json=body, headers={"Prefer": "wait=10"})
    assert made.status_code == 201 and made.json()["status"] == "succeeded"
    assert made.json()["output"] == "a caption"


async def test_another_models_name_or_version_is_refused(api):
    image = {"image": data_uri(photos.png())}
    async with api.http() as http:
        other_model = await http.post("/v1/models/someone/else/predictions", json={"input": image})
        other_version = await http.post("/v1/predictions", json={"version": "abc123", "input": image})
    assert other_model.status_code == 404 and "blipbot/blip-2" in other_model.json()["detail"]
    assert other_version.status_code == 422 and "its version is" in other_version.json()["detail"]


async def failed_with(api, image: str) -> str:
    async with api.http() as http:
        made = await http.post(
            MODEL_PREDICTIONS, json={"input": {"image": image}}, headers={"Prefer": "wait=20"}
        )
    assert made.status_code == 201
    prediction = made.json()
    assert prediction["status"] == "failed", prediction
    assert prediction["output"] is None and prediction["completed_at"]
    assert "Traceback" not in prediction["error"] and "File " not in prediction["error"]
    return prediction["error"]


async def test_unusable_images_fail_the_prediction_with_a_plain_reason(tmp_path):
    async with (
        running_api(tmp_path, FakeEngine(), limits={"max_image_bytes": 100_000}) as api,
        image_host() as host,
    ):
        host.files["notes.txt"] = b"just some text"
        host.status["gone.jpg"] = 404
        host.files["big.jpg"] = b"\xff" * 200_000
        assert "could not open that file as a picture" in await failed_with(api, host.url("notes.txt"))
        assert "HTTP status 404" in await failed_with(api, host.url("gone.jpg"))
        assert "larger than" in await failed_with(api, host.url("big.jpg"))
        assert "could not be reached" in await failed_with(api, "http://127.0.0.1:9/photo.jpg")
        assert "too big for me to look at" in await failed_with(api, data_uri(photos.huge_header_png()))
        assert "not hold valid base64" in await failed_with(api, "data:image/png;base64,***")
        assert "http or https URL" in await failed_with(api, "ftp://example.org/a.jpg")
        assert "does not exist" in await failed_with(api, f"{api.url}/v1/files/0123abcd/download")
        assert api.engine.requests == []  # none of them reached the model


async def test_urls_into_private_networks_are_not_fetched_unless_allowed(tmp_path):
    async with (
        running_api(tmp_path, FakeEngine(), api={"allow_private_urls": False}) as api,
        image_host() as host,
    ):
        host.files["a.png"] = photos.png()
        assert "private network" in await failed_with(api, host.url("a.png"))
    assert host.hits == []


async def test_a_slow_image_url_is_given_up_after_the_fetch_timeout(tmp_path):
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=b"late")

    app = web.Application()
    app.router.add_get("/slow.jpg", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        async with running_api(tmp_path, FakeEngine(), api={"fetch_timeout_s": 0.5}) as api:
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/slow.jpg"
            assert "did not answer within 0.5 seconds" in await failed_with(api, url)
    finally:
        await runner.cleanup()


async def test_an_oversize_upload_gets_413(tmp_path):
    async with (
        running_api(tmp_path, FakeEngine(), limits={"max_image_bytes": 1000}) as api,
        api.http() as http,
    ):
        refused = await http.post("/v1/files", files={"content": ("big.jpg", b"x" * 2000, "image/jpeg")})
    assert refused.status_code == 413 and "larger than" in refused.json()["detail"]


async def test_a_model_failure_is_a_failed_prediction_not_a_500(api):
    api.engine.fail_on.add("Question")
    async with api.http() as http:
        made = await http.post(
            MODEL_PREDICTIONS,
            json={"input": {"image": data_uri(photos.png()), "question": "what?"}},
            headers={"Prefer": "wait=10"},
        )
    assert made.status_code == 201
    assert made.json()["status"] == "failed"
    assert (
        made.json()["error"]
        == "Something went wrong on the server while running this prediction. Please try again."
    )
