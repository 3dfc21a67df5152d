"""The hostile-file corpus through the web page's form post (no scripts), one browser session.

A person choosing the wrong file sees a plain sentence in the status region, the page keeps
working, and the next good photo is described.
"""

from __future__ import annotations

import html as html_lib
import re

import httpx

from tests.api.conftest import running_api
from tests.fakes import photos
from tests.fakes.bad_images import corpus
from tests.fakes.engine import FakeEngine
from tests.web.conftest import csrf_of, status_of

#: The limits tests/core/test_hostile_images.py uses, so each file meets the same fate at every door.
LIMITS = {"max_image_bytes": 5 * 1024 * 1024, "max_image_pixels": 10_000_000, "photos_per_minute": 1000}
#: A browser sends an empty file as no file at all, so the page asks for a photo instead.
WEB_REFUSALS = {"zero-bytes": "Please choose a photo"}


def kind_of(page: str) -> str:
    found = re.search(r'<div id="status"[^>]*data-kind="([a-z]+)"', page)
    assert found, "the status region has no kind"
    return found.group(1)


async def test_every_hostile_upload_is_described_or_refused_in_the_status_region(tmp_path):
    brief = {"accessibility": {"detail": "brief"}, "inference": {"batch_wait_ms": 0}}
    async with (
        running_api(tmp_path, FakeEngine(), limits=LIMITS, **brief) as site,
        httpx.AsyncClient(base_url=site.url, timeout=30, follow_redirects=True) as http,
    ):
        page = (await http.get("/")).text
        wrong: dict[str, str] = {}
        for hostile in corpus():
            files = {"photo": ("photo.jpg", hostile.data, "image/jpeg")}
            response = await http.post("/", data={"csrf": csrf_of(page), "action": "send"}, files=files)
            page = response.text
            status = html_lib.unescape(status_of(page))
            expected = WEB_REFUSALS.get(hostile.name, hostile.refusal)
            if response.status_code != 200 or "Traceback" in page:
                wrong[hostile.name] = f"HTTP {response.status_code}"
            elif expected is None and kind_of(page) != "answer":
                wrong[hostile.name] = f"not described: {kind_of(page)} {status!r}"
            elif expected is not None and (expected not in status or not status.endswith(".")):
                wrong[hostile.name] = f"not refused with {expected!r}: {status!r}"
        assert wrong == {}
        assert len(site.engine.requests) == sum(hostile.accepted for hostile in corpus()), "refused: no model"
        site.engine.enqueue("a door")
        after = await http.post(
            "/",
            data={"csrf": csrf_of(page), "action": "send"},
            files={"photo": ("door.png", photos.png(seed=5), "image/png")},
        )
        assert status_of(after.text) == "A door."
