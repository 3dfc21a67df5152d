"""The script's post, `/web/ask`: NDJSON lines, the place in line first when others are ahead."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx

from tests.api.conftest import running_api
from tests.fakes import photos
from tests.fakes.engine import FakeEngine
from tests.web.conftest import csrf_of


async def ask(
    http: httpx.AsyncClient, csrf: str, action: str, photo: bytes | None = None, **fields: str
) -> list[dict]:
    files = {"photo": ("photo.png", photo, "image/png")} if photo is not None else None
    response = await http.post("/web/ask", data={"csrf": csrf, "action": action, **fields}, files=files)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


async def test_an_answer_comes_with_the_conversation_and_spoken_when_voice_is_on(site, browser_http):
    site.engine.enqueue("a green bench")
    csrf = csrf_of((await browser_http.get("/")).text)
    [answer] = await ask(browser_http, csrf, "send", photos.png(seed=6), detail="brief", voice="on")
    assert answer["event"] == "answer" and answer["text"] == "A green bench."
    assert answer["conversation"] == [{"question": "", "answer": "A green bench."}]
    [audio] = answer["audio"]
    assert audio.startswith("data:audio/ogg;base64,")
    assert base64.b64decode(audio.split(",", 1)[1])[:4] == b"OggS"


async def test_a_person_behind_others_hears_their_place_in_line_before_the_answer(tmp_path):
    engine = FakeEngine(delay_s=1.0)
    async with running_api(tmp_path, engine, limits={"photos_per_minute": 100}) as site:
        first = httpx.AsyncClient(base_url=site.url, timeout=30)
        second = httpx.AsyncClient(base_url=site.url, timeout=30)
        async with first, second:
            first_csrf = csrf_of((await first.get("/")).text)
            second_csrf = csrf_of((await second.get("/")).text)
            ahead = asyncio.create_task(ask(first, first_csrf, "send", photos.png(seed=1), detail="brief"))
            while not engine.batches:  # the first photo is with the model
                await asyncio.sleep(0.01)
            lines = await ask(second, second_csrf, "send", photos.png(seed=2), detail="brief")
            await ahead
    assert [line["event"] for line in lines] == ["queued", "answer"]
    assert lines[0]["text"] == "Looking at your photo. You are number 2 in line."


async def test_a_stale_token_gets_a_refusal_line_and_nothing_is_done(site, browser_http):
    await browser_http.get("/")
    [line] = await ask(browser_http, "stale", "forget")
    assert line["kind"] == "error" and "nothing was done" in line["text"]
