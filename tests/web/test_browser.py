"""The page in a real browser (Debian's Chromium under Playwright), with scripts on and off.

Each flow is the one a screen-reader user follows: choose a photo, hear the description in the
live region, ask a follow-up, read the sign's text, hear a shirt's colours, get alt text, turn the
voice on, delete the data. axe-core checks every state for serious or critical problems, in light
and dark.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image
from playwright.async_api import Page, expect

from tests.fakes import photos
from tests.fakes.browser import launched_chromium, serious_axe_violations

# OCR, speech and a model answer take seconds on a busy 2-core machine, not Playwright's default 5.
expect.set_options(timeout=30_000)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "bot" / "web" / "static" / "screenshots"


def png_file(data: bytes, name: str = "photo.png") -> dict:
    return {"name": name, "mimeType": "image/png", "buffer": data}


async def no_axe_problems(page: Page, state: str) -> None:
    violations = await serious_axe_violations(page)
    assert violations == [], f"axe, {state}: {violations}"


async def test_the_whole_flow_with_scripts_announces_each_answer_in_the_live_region(site):
    site.engine.enqueue("a door", "wood", "yes", "a kitchen with a long table and chairs around it")
    async with launched_chromium() as context:
        page = await context.new_page()
        await page.goto(site.url)
        await expect(page.locator("h1")).to_have_text("Describe a photo")
        await no_axe_problems(page, "empty")
        await page.select_option("#detail", "brief")
        await page.set_input_files("#photo", files=[png_file(photos.png(seed=3))])
        await page.click("button[value=send]")
        status = page.locator("#status")
        await expect(status).to_have_text("A door.")
        assert await status.get_attribute("aria-live") == "polite"
        await no_axe_problems(page, "described")

        await page.fill("#question", "what is it made of?")
        await page.press("#question", "Enter")
        await expect(status).to_have_text("Wood.")
        await expect(page.locator("#question")).to_be_focused()  # ready for the next question
        await page.fill("#question", "is it open?")
        await page.press("#question", "Enter")
        await expect(status).to_have_text("Yes.")
        expected = "Question: what is it made of? Answer: Wood. Question: is it open? Answer:"
        assert site.engine.prompts[-1] == expected
        await expect(page.locator("#conversation li")).to_have_count(3)

        await page.click("button[value=alt]")
        await expect(status).not_to_have_text("Yes.")
        assert 0 < len(await status.text_content() or "") <= 125
        await no_axe_problems(page, "answered")

        await page.check("#voice")
        await page.set_input_files("#photo", files=[png_file(photos.sign("EXIT"), "sign.png")])
        await page.click("button[value=read]")
        await expect(status).to_contain_text("EXIT")
        audio = page.locator("#voice-notes audio").first
        assert (await audio.get_attribute("src") or "").startswith("data:audio/ogg;base64,")
        playable = await audio.evaluate("a => a.canPlayType('audio/ogg; codecs=opus')")
        assert playable in ("probably", "maybe")
        assert await page.evaluate("localStorage.getItem('blipbot.voice')") == "on"

        await page.click("button[value=forget]")
        await expect(status).to_contain_text("deleted your photos")
        await expect(page.locator("#no-conversation")).to_be_visible()
        await no_axe_problems(page, "after deleting")


async def test_the_colours_button_answers_in_the_live_region_and_keeps_focus(site):
    navy = photos.encode(Image.new("RGB", (400, 300), (20, 30, 90)), "PNG")
    async with launched_chromium() as context:
        page = await context.new_page()
        await page.goto(site.url)
        await page.set_input_files("#photo", files=[png_file(navy, "shirt.png")])
        colours = page.get_by_role("button", name="Colours", exact=True)
        await colours.click()
        status = page.locator("#status")
        await expect(status).to_contain_text("navy", ignore_case=True)
        await expect(colours).to_be_focused()  # the next check is one key away
        await expect(page.locator("#conversation li")).to_have_count(1)
        assert site.engine.requests == []  # answered without the model
        await no_axe_problems(page, "colours answered")


async def test_keyboard_alone_does_the_flow_with_visible_focus(site):
    site.engine.enqueue("a cat", "one", "a room", "a cat and a sofa", "no", "black")  # normal: 5 requests
    async with launched_chromium() as context:
        page = await context.new_page()
        await page.goto(site.url)
        await page.keyboard.press("Tab")
        await expect(page.locator("a.skip")).to_be_focused()
        assert await page.locator("a.skip").is_visible()  # the skip link shows when focused
        await page.keyboard.press("Tab")
        await expect(page.locator("#photo")).to_be_focused()
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none"
        # Enter on the focused file input opens the system's file dialog, which is outside the page;
        # the file is handed over the way that dialog would, and the rest is keys again.
        await page.locator("#photo").set_input_files(files=[png_file(photos.png(seed=8))])
        await page.keyboard.press("Tab")
        await expect(page.locator("#question")).to_be_focused()
        await page.keyboard.press("Enter")  # empty question: a description
        await expect(page.locator("#status")).not_to_have_text("No answer yet.")
        await expect(page.locator("#question")).to_be_focused()
        await page.keyboard.type("what colour is it?")
        await page.keyboard.press("Enter")
        await expect(page.locator("#status")).to_contain_text("Black")


async def test_without_scripts_the_forms_post_and_the_page_comes_back_with_the_answer(site):
    site.engine.enqueue("a door", "wood")
    async with launched_chromium(javascript=False) as context:
        page = await context.new_page()
        await page.goto(site.url)
        await page.select_option("#detail", "brief")
        await page.set_input_files("#photo", files=[png_file(photos.png(seed=3))])
        await page.click("button[value=send]")
        await expect(page.locator("#status")).to_have_text("A door.")
        await page.fill("#question", "what is it made of?")
        await page.click("button[value=send]")
        await expect(page.locator("#status")).to_have_text("Wood.")
        await no_axe_problems(page, "no script, answered")
        await page.click("button[value=forget]")
        await expect(page.locator("#status")).to_contain_text("deleted your photos")


async def test_both_colour_schemes_pass_axe_and_are_photographed_for_the_readme(site, tmp_path):
    site.engine.enqueue("a red bicycle leaning against a brick wall")
    for scheme in ("light", "dark"):
        async with launched_chromium(color_scheme=scheme) as context:
            page = await context.new_page()
            await page.set_viewport_size({"width": 800, "height": 1000})
            await page.goto(site.url)
            if scheme == "light":
                await page.select_option("#detail", "brief")
                await page.set_input_files("#photo", files=[png_file(photos.png(seed=5))])
                await page.click("button[value=send]")
                await expect(page.locator("#status")).to_have_text(
                    "A red bicycle leaning against a brick wall."
                )
            await no_axe_problems(page, f"{scheme} scheme")
            shot = tmp_path / f"page-{scheme}.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("BLIPBOT_UPDATE_SCREENSHOTS"):
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, SCREENSHOTS / shot.name)


async def test_the_page_reflows_at_400_percent_zoom(site):
    async with launched_chromium() as context:
        page = await context.new_page()
        await page.set_viewport_size({"width": 320, "height": 256})  # 1280x1024 at 400%
        await page.goto(site.url)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, "content wider than the viewport: the page scrolls sideways at 400% zoom"
