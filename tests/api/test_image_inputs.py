"""Image URLs: redirects are followed, and each hop is checked for private addresses like the first.

The remote side is an `httpx.MockTransport` standing in for the internet (there is none here);
the addresses are IP literals, so the private-network check runs for real without DNS.
"""

from __future__ import annotations

import httpx
import pytest

from bot.api.config import ApiConfig
from bot.api.image_inputs import ImageInputError, ImageInputs

PUBLIC = "http://93.184.216.34"


def inputs(handler, *, allow_private: bool = False) -> ImageInputs:
    config = ApiConfig(tokens=["t"], allow_private_urls=allow_private)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ImageInputs(config, files=None, max_bytes=1000, http=http)  # type: ignore[arg-type]


async def test_a_redirect_into_a_private_network_is_refused():
    asked: list[str] = []

    def internet(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.host == "93.184.216.34":
            return httpx.Response(302, headers={"location": "http://169.254.169.254/latest/meta-data/"})
        return httpx.Response(200, content=b"secret")

    with pytest.raises(ImageInputError, match="private network"):
        await inputs(internet).fetch(f"{PUBLIC}/photo.jpg", token_hash="h")
    assert asked == [f"{PUBLIC}/photo.jpg"]  # the metadata address was never asked


async def test_redirects_are_followed_a_few_times_then_given_up():
    def internet(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/moved.jpg":
            return httpx.Response(301, headers={"location": "/photo.jpg"})
        if request.url.path == "/photo.jpg":
            return httpx.Response(200, content=b"image bytes")
        return httpx.Response(302, headers={"location": request.url.path + "x"})

    assert await inputs(internet).fetch(f"{PUBLIC}/moved.jpg", token_hash="h") == b"image bytes"
    with pytest.raises(ImageInputError, match="redirected more than 5 times"):
        await inputs(internet).fetch(f"{PUBLIC}/loop", token_hash="h")


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "192.168.0.7", "169.254.169.254", "[::1]", "0.0.0.0"]
)
async def test_private_loopback_link_local_and_metadata_addresses_are_refused(address):
    def internet(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing private may be asked")

    with pytest.raises(ImageInputError, match="private network"):
        await inputs(internet).fetch(f"http://{address}/a.jpg", token_hash="h")


async def test_a_download_over_the_size_cap_is_stopped():
    def internet(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    with pytest.raises(ImageInputError, match="larger than"):
        await inputs(internet).fetch(f"{PUBLIC}/big.jpg", token_hash="h")
