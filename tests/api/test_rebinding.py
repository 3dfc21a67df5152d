"""DNS rebinding: a name checked as public is connected to at the address checked, never a new answer.

A `FakeResolver` is the check's DNS. The name `localhost` stands for a rebinding name: the fake
answers a public address for it while the system resolver, which httpx would ask again, answers
127.0.0.1, where a local server listens. The request shapes are read at an `httpx.MockTransport`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx
import pytest

from bot.api.config import ApiConfig
from bot.api.image_inputs import ImageInputError, ImageInputs
from bot.api.webhooks import WebhookSender, new_secret
from tests.fakes.http_peers import image_host, webhook_receiver

PUBLIC = "93.184.216.34"
PUBLIC_V6 = "2606:4700::1111"


@dataclass
class FakeResolver:
    """Answers `answers` in turn (the last one again after that); `asked` holds each (host, port)."""

    answers: list[list[str]]
    asked: list[tuple[str, int]] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def inputs(
    resolver: FakeResolver, http: httpx.AsyncClient | None = None, *, allow_private: bool = False
) -> ImageInputs:
    config = ApiConfig(tokens=["t"], allow_private_urls=allow_private, fetch_timeout_s=3)
    http = http or httpx.AsyncClient()
    return ImageInputs(config, files=None, max_bytes=1000, http=http, resolve=resolver)  # type: ignore[arg-type]


def recording(asked: list[httpx.Request], *responses: httpx.Response) -> httpx.AsyncClient:
    """A client whose "internet" answers `responses` in turn and records each request."""
    queue = list(responses)

    def internet(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return queue.pop(0)

    return httpx.AsyncClient(transport=httpx.MockTransport(internet))


async def test_a_name_rebound_to_loopback_after_the_check_does_not_reach_the_local_server():
    async with image_host() as host:
        host.files["a.png"] = b"local secret"
        port = host.base.rsplit(":", 1)[1]
        url = f"http://localhost:{port}/a.png"
        # The setup is sound: let httpx resolve the name itself, and it reaches the local server.
        assert await inputs(FakeResolver([[PUBLIC]]), allow_private=True).fetch(url, token_hash="h") == (
            b"local secret"
        )
        host.hits.clear()

        resolver = FakeResolver([[PUBLIC]])
        with pytest.raises(ImageInputError, match=r"could not be reached|did not answer"):
            await inputs(resolver).fetch(url, token_hash="h")
    assert resolver.asked == [("localhost", int(port))]
    assert host.hits == []  # the connection went to the public address that was checked


@pytest.mark.parametrize("answer", [["127.0.0.1"], [PUBLIC, "10.0.0.5"], ["::ffff:169.254.169.254"]])
async def test_a_name_with_any_private_answer_is_refused_before_anything_is_sent(answer):
    asked: list[httpx.Request] = []
    with pytest.raises(ImageInputError, match="points into a private network"):
        await inputs(FakeResolver([answer]), recording(asked)).fetch(
            "http://photos.test/a.jpg", token_hash="h"
        )
    assert asked == []


async def test_a_name_without_addresses_is_a_host_not_found():
    with pytest.raises(ImageInputError, match="host name could not be found"):
        await inputs(FakeResolver([[]])).fetch("http://nowhere.test/a.jpg", token_hash="h")


@pytest.mark.parametrize(
    ("url", "address", "connected", "host_header"),
    [
        ("https://photos.test/a.jpg", PUBLIC, f"https://{PUBLIC}/a.jpg", "photos.test"),
        ("http://photos.test:8080/a.jpg?s=1", PUBLIC, f"http://{PUBLIC}:8080/a.jpg?s=1", "photos.test:8080"),
        ("https://photos.test/a.jpg", PUBLIC_V6, f"https://[{PUBLIC_V6}]/a.jpg", "photos.test"),
    ],
)
async def test_the_request_goes_to_the_checked_address_under_its_own_name(
    url, address, connected, host_header
):
    asked: list[httpx.Request] = []
    http = recording(asked, httpx.Response(200, content=b"image bytes"))
    assert await inputs(FakeResolver([[address]]), http).fetch(url, token_hash="h") == b"image bytes"
    [request] = asked
    assert str(request.url) == connected
    assert request.headers["host"] == host_header
    # TLS sends and checks the real name; the connection is not reused for another name.
    assert request.extensions["sni_hostname"] == "photos.test"
    assert request.headers["connection"] == "close"


async def test_each_redirect_hop_is_resolved_again_and_a_rebound_answer_refused():
    asked: list[httpx.Request] = []
    http = recording(asked, httpx.Response(302, headers={"location": "/b.jpg"}))
    resolver = FakeResolver([[PUBLIC], ["127.0.0.1"]])
    with pytest.raises(ImageInputError, match="points into a private network"):
        await inputs(resolver, http).fetch("http://photos.test/a.jpg", token_hash="h")
    assert resolver.asked == [("photos.test", 80), ("photos.test", 80)]  # the relative hop kept the name
    assert [str(request.url) for request in asked] == [f"http://{PUBLIC}/a.jpg"]


async def test_a_redirect_is_followed_under_the_name_not_the_address():
    asked: list[httpx.Request] = []
    http = recording(
        asked,
        httpx.Response(301, headers={"location": "/b.jpg"}),
        httpx.Response(200, content=b"moved image"),
    )
    resolver = FakeResolver([[PUBLIC], [PUBLIC_V6]])
    assert await inputs(resolver, http).fetch("http://photos.test/a.jpg", token_hash="h") == b"moved image"
    assert [str(request.url) for request in asked] == [
        f"http://{PUBLIC}/a.jpg",
        f"http://[{PUBLIC_V6}]/b.jpg",
    ]
    assert [request.headers["host"] for request in asked] == ["photos.test", "photos.test"]


async def test_a_webhook_to_a_rebound_name_does_not_reach_the_local_receiver():
    async with webhook_receiver() as receiver, httpx.AsyncClient() as http:
        url = receiver.url.replace("127.0.0.1", "localhost")
        allowed = WebhookSender(http, new_secret(), allow_private=True, resolve=FakeResolver([[PUBLIC]]))
        allowed.send(url, b"{}", event="start", prediction_id="p0")
        await receiver.wait_for(1)  # the setup is sound: resolved by httpx, the name is the receiver

        resolver = FakeResolver([[PUBLIC]])
        sender = WebhookSender(http, new_secret(), resolve=resolver)
        sender.send(url, b"{}", event="start", prediction_id="p1")
        await sender.drain(5.0)
    assert len(receiver.received) == 1
    assert len(resolver.asked) == 1


async def test_a_webhook_whose_name_answers_a_private_address_is_not_sent_or_retried(caplog):
    asked: list[httpx.Request] = []
    resolver = FakeResolver([[PUBLIC, "127.0.0.1"]])
    sender = WebhookSender(recording(asked), new_secret(), retry_delays_s=(0.0, 0.0), resolve=resolver)
    with caplog.at_level(logging.WARNING, logger="bot.api.webhooks"):
        sender.send("https://hooks.test/in", b"{}", event="completed", prediction_id="p2")
        await sender.drain(5.0)
    assert asked == [] and len(resolver.asked) == 1
    assert "points into a private network" in caplog.text


async def test_a_webhook_is_posted_to_the_checked_address_and_retried_with_a_fresh_answer():
    asked: list[httpx.Request] = []
    http = recording(asked, httpx.Response(503), httpx.Response(200))
    resolver = FakeResolver([[PUBLIC], [PUBLIC_V6]])
    sender = WebhookSender(http, new_secret(), retry_delays_s=(0.0,), resolve=resolver)
    sender.send("https://hooks.test/in", b'{"id": "p3"}', event="completed", prediction_id="p3")
    await sender.drain(5.0)
    assert [str(request.url) for request in asked] == [f"https://{PUBLIC}/in", f"https://[{PUBLIC_V6}]/in"]
    assert {request.headers["host"] for request in asked} == {"hooks.test"}
    assert {request.extensions["sni_hostname"] for request in asked} == {"hooks.test"}
    assert asked[1].content == b'{"id": "p3"}' and "webhook-signature" in asked[1].headers
