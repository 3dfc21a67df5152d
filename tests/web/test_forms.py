"""The page without JavaScript: plain form posts that come back as the page with the answer in it."""

from __future__ import annotations

import html as html_lib

import httpx
from PIL import Image

from bot.core.texts import NO_CODES
from tests.api.conftest import running_api
from tests.fakes import codes, photos
from tests.fakes.engine import FakeEngine
from tests.web.conftest import csrf_of, status_of


async def post(
    http: httpx.AsyncClient, page: str, action: str, photo: bytes | None = None, **fields: str
) -> str:
    files = {"photo": ("photo.png", photo, "image/png")} if photo is not None else None
    data = {"csrf": csrf_of(page), "action": action, **fields}
    response = await http.post("/", data=data, files=files)
    assert response.status_code == 200
    return response.text


async def test_the_page_is_served_at_the_root_with_a_strict_policy_and_no_third_party_requests(
    site, browser_http
):
    response = await browser_http.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert (
        "default-src 'none'" in policy
        and "script-src 'self'" in policy
        and "frame-ancestors 'none'" in policy
    )
    assert "http://" not in response.text.replace(site.url, "") and "https://" not in response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    for asset in ("/static/web.js", "/static/web.css"):
        assert (await browser_http.get(asset)).status_code == 200


async def test_describe_then_follow_ups_whose_prompt_carries_the_earlier_answers(site, browser_http):
    site.engine.enqueue("a door", "wood", "yes")
    page = (await browser_http.get("/")).text
    page = await post(browser_http, page, "send", photos.png(seed=3), detail="brief", voice_shown="1")
    assert status_of(page) == "A door."
    page = await post(browser_http, page, "send", question="what is it made of?")
    assert status_of(page) == "Wood."
    page = await post(browser_http, page, "send", question="is it open?")
    assert status_of(page) == "Yes."
    expected = "Question: what is it made of? Answer: Wood. Question: is it open? Answer:"
    assert site.engine.prompts[-1] == expected
    listed = html_lib.unescape(page)
    assert (
        listed.index("A door.")
        < listed.index("You asked: what is it made of?")
        < listed.index("You asked: is it open?")
    )


async def test_alt_text_start_over_and_delete_my_data(site, browser_http):
    site.engine.enqueue("a very long description of a kitchen with many things on every shelf " * 3)
    page = (await browser_http.get("/")).text
    page = await post(browser_http, page, "alt", photos.png(seed=4), voice_shown="1")
    assert 0 < len(html_lib.unescape(status_of(page))) <= 125
    page = await post(browser_http, page, "reset")
    assert "put the last photo aside" in status_of(page)
    page = await post(browser_http, page, "forget")
    assert "deleted your photos" in status_of(page)
    assert "Nothing yet" in page


def split_red_blue() -> bytes:
    """Red on the left half, blue on the right: the centre holds both."""
    image = Image.new("RGB", (400, 300), (200, 20, 20))
    image.paste((20, 40, 200), (200, 0, 400, 300))
    return photos.encode(image, "PNG")


async def test_the_colours_button_names_a_navy_patch_and_both_halves_of_a_split_photo(site, browser_http):
    page = (await browser_http.get("/")).text
    navy = photos.encode(Image.new("RGB", (400, 300), (20, 30, 90)), "PNG")
    page = await post(browser_http, page, "colour", navy)
    said = html_lib.unescape(status_of(page)).lower()
    assert "navy" in said or "dark blue" in said, said
    page = await post(browser_http, page, "colour", split_red_blue())
    said = html_lib.unescape(status_of(page)).lower()
    assert "red" in said and "blue" in said, said
    assert site.engine.requests == []  # a quick check never waits for the model


async def test_scan_reads_a_menus_qr_code_and_light_says_a_dark_photo_is_dark(site, browser_http):
    page = (await browser_http.get("/")).text
    page = await post(browser_http, page, "scan", codes.menu_photo())
    assert "example.org/menu" in html_lib.unescape(status_of(page))
    dark = photos.encode(Image.new("RGB", (640, 480), (5, 5, 5)), "PNG")
    page = await post(browser_http, page, "light", dark)
    assert "dark" in html_lib.unescape(status_of(page)).lower()
    page = await post(browser_http, page, "scan")  # the same photo again: no code in it
    assert html_lib.unescape(status_of(page)) == NO_CODES
    assert site.engine.requests == []


async def test_an_unknown_button_is_refused_and_does_nothing(site, browser_http):
    site.engine.enqueue("a door")
    page = (await browser_http.get("/")).text
    page = await post(browser_http, page, "send", photos.png(seed=3), detail="brief")
    page = await post(browser_http, page, "explode")
    assert "not one this page knows" in status_of(page)
    assert "A door." in page  # the conversation is still there: nothing was forgotten


async def test_a_post_without_the_pages_token_does_nothing(site, browser_http):
    await browser_http.get("/")
    response = await browser_http.post("/", data={"csrf": "forged", "action": "forget"})
    assert "out of date, so nothing was done" in status_of(response.text)
    other = httpx.AsyncClient(base_url=site.url)
    async with other:  # another browser's token is not this one's
        theirs = csrf_of((await other.get("/")).text)
    response = await browser_http.post("/", data={"csrf": theirs, "action": "forget"})
    assert "out of date" in status_of(response.text)


async def test_a_non_image_upload_is_refused_in_plain_words(site, browser_http):
    page = (await browser_http.get("/")).text
    files = {"photo": ("notes.txt", b"hello", "text/plain")}
    response = await browser_http.post("/", data={"csrf": csrf_of(page), "action": "send"}, files=files)
    assert "could not open that file as a picture" in html_lib.unescape(status_of(response.text))
    assert site.engine.requests == []


async def test_the_access_code_guards_the_page(tmp_path):
    async with (
        running_api(tmp_path, FakeEngine(), web={"access_code": "open sesame"}) as site,
        httpx.AsyncClient(base_url=site.url) as http,
    ):
        page = (await http.get("/")).text
        assert 'id="code"' in page and 'id="photo"' not in page
        refused = await http.post("/", data={"csrf": csrf_of(page), "action": "forget"})
        assert "access code first" in status_of(refused.text)
        wrong = await http.post("/", data={"csrf": csrf_of(page), "action": "unlock", "code": "nope"})
        assert "not right" in status_of(wrong.text)
        right = await http.post("/", data={"csrf": csrf_of(page), "action": "unlock", "code": "open sesame"})
        assert 'id="photo"' in right.text
        assert 'id="photo"' in (await http.get("/")).text  # the cookie remembers it
