"""The browser helpers against tiny pages from a local aiohttp server: rendering, scripts on and off,
the colour scheme, and axe telling an inaccessible page from an accessible one.

If these fail, the web page's own browser tests cannot be trusted in either direction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from tests.fakes import browser
from tests.fakes.browser import (
    ChromiumMissingError,
    axe_violations,
    launched_chromium,
    serious_axe_violations,
)


def _document(body: str, *, head: str = "") -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Self-test</title>{head}</head><body>{body}</body></html>"
    )


PAGES = {
    "script": _document(
        '<main><h1>Describe a photo</h1><p id="status">Scripts are off.</p>'
        '<noscript><a href="/good">Use the plain form</a></noscript>'
        "<script>document.getElementById('status').textContent = 'Scripts are on.'</script></main>"
    ),
    "good": _document(
        '<main><h1>Describe a photo</h1><img src="/pixel.svg" alt="A red square">'
        '<form><label for="photo">Photo</label><input id="photo" type="file">'
        '<button type="submit">Describe</button></form></main>'
    ),
    # An image without alt text and an icon button with no accessible name: both critical in axe.
    "bad": _document(
        '<main><h1>Describe a photo</h1><img src="/pixel.svg">'
        '<button type="button" class="send"><svg width="8" height="8" aria-hidden="true"></svg></button>'
        "</main>"
    ),
    # A fallback link with no name: shown, so checkable, only when scripts are off.
    "bad_fallback": _document(
        '<main><h1>Describe a photo</h1><noscript><p>No scripts?</p><a href="/good"></a></noscript></main>'
    ),
    # Readable in light mode; near-black on black once the browser prefers dark.
    "dark_contrast": _document(
        "<main><h1>Describe a photo</h1><p>Ready for a photo.</p></main>",
        head="<style>body { color: #000; background: #fff; }"
        "@media (prefers-color-scheme: dark) { body { color: #222; background: #000; } }</style>",
    ),
    # Only moderate findings (content outside any landmark, no main): nothing that blocks.
    "moderate_only": _document("<h1>Describe a photo</h1><p>Ready for a photo.</p>"),
}

PIXEL_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8">'
    '<rect width="8" height="8" fill="red"/></svg>'
)


@asynccontextmanager
async def _page_server() -> AsyncIterator[str]:
    """Serves PAGES at /<name> and an image at /pixel.svg on a free loopback port."""

    async def page(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in PAGES:
            raise web.HTTPNotFound()
        return web.Response(text=PAGES[name], content_type="text/html")

    async def pixel(request: web.Request) -> web.Response:
        return web.Response(text=PIXEL_SVG, content_type="image/svg+xml")

    app = web.Application()
    app.router.add_get("/pixel.svg", pixel)
    app.router.add_get("/{name}", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    async with _page_server() as url:
        yield url


async def test_renders_the_page_and_runs_its_script(base_url: str) -> None:
    async with launched_chromium() as context:
        page = await context.new_page()
        response = await page.goto(f"{base_url}/script")
        assert response is not None and response.ok
        assert await page.title() == "Self-test"
        assert await page.get_by_role("heading", level=1).inner_text() == "Describe a photo"
        assert await page.locator("#status").inner_text() == "Scripts are on."
        assert await page.get_by_role("link", name="Use the plain form").count() == 0
        assert await page.evaluate("navigator.userAgent") != ""


async def test_javascript_disabled_leaves_the_no_script_page(base_url: str) -> None:
    async with launched_chromium(javascript=False) as context:
        page = await context.new_page()
        await page.goto(f"{base_url}/script")
        assert await page.locator("#status").inner_text() == "Scripts are off."
        # A role locator, not get_by_text: Playwright's text matching skips everything inside <noscript>.
        assert await page.get_by_role("link", name="Use the plain form").is_visible()


@pytest.mark.parametrize("javascript", [True, False])
async def test_axe_finds_nothing_serious_on_an_accessible_page(base_url: str, javascript: bool) -> None:
    async with launched_chromium(javascript=javascript) as context:
        page = await context.new_page()
        await page.goto(f"{base_url}/good")
        violations = await serious_axe_violations(page)
    assert violations == [], violations


@pytest.mark.parametrize("javascript", [True, False])
async def test_axe_names_each_serious_violation_and_where(base_url: str, javascript: bool) -> None:
    async with launched_chromium(javascript=javascript) as context:
        page = await context.new_page()
        await page.goto(f"{base_url}/bad")
        violations = await serious_axe_violations(page)
    by_id = {violation["id"]: violation for violation in violations}
    assert set(by_id) == {"image-alt", "button-name"}, violations
    assert by_id["image-alt"]["impact"] == "critical"
    assert by_id["image-alt"]["targets"] == ["img"]
    assert by_id["button-name"]["targets"] == ["button"]
    assert "alternative text" in by_id["image-alt"]["help"]


async def test_color_scheme_reaches_the_page_and_axe_checks_its_contrast(base_url: str) -> None:
    async with launched_chromium(color_scheme="light") as context:
        page = await context.new_page()
        await page.goto(f"{base_url}/dark_contrast")
        assert await serious_axe_violations(page) == []
    async with launched_chromium(color_scheme="dark") as context:
        page = await context.new_page()
        await page.goto(f"{base_url}/dark_contrast")
        assert await page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
        violations = await serious_axe_violations(page)
    assert [violation["id"] for violation in violations] == ["color-contrast"], violations
    assert violations[0]["impact"] == "serious"
    assert set(violations[0]["targets"]) == {"h1", "p"}


@pytest.mark.parametrize("javascript", [True, False])
async def test_axe_checks_the_noscript_fallback_when_scripts_are_off(base_url: str, javascript: bool) -> None:
    async with launched_chromium(javascript=javascript) as context:
        page = await context.new_page()
        await page.goto(f"{base_url}/bad_fallback")
        violations = await serious_axe_violations(page)
        # The <noscript> unwrapped for axe is put back as it was.
        assert await page.locator("main > noscript > a").count() == (0 if javascript else 1)
        assert await page.locator("main > noscript > p").count() == (0 if javascript else 1)
    if javascript:
        assert violations == [], violations
    else:
        assert [(violation["id"], violation["targets"]) for violation in violations] == [
            ("link-name", ["a"])
        ], violations


@pytest.mark.parametrize("javascript", [True, False])
async def test_moderate_findings_are_left_out(base_url: str, javascript: bool) -> None:
    async with launched_chromium(javascript=javascript) as context:
        page = await context.new_page()
        await page.goto(f"{base_url}/moderate_only")
        everything = await axe_violations(page)
        blocking = await serious_axe_violations(page)
    assert everything and {violation["impact"] for violation in everything} <= {"minor", "moderate"}
    assert blocking == []


async def test_a_missing_chromium_fails_and_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", Path("/nonexistent/chromium"))
    with pytest.raises(ChromiumMissingError, match=r"scripts/setup test"):
        async with launched_chromium():
            pass
