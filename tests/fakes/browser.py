"""A real browser for the web page's tests, and an accessibility check to run in it.

The browser is Debian's `chromium` package (scripts/setup test installs it), driven by Playwright's
async API. Playwright's own browser download (`playwright install`) needs internet access that the test
machines lack, so it is never run; the pinned Playwright release is the one built against the same
Chromium major version as Debian's, which keeps its DevTools protocol in step with the browser.

The page is for blind and low-vision people, so an accessibility regression is a real bug: axe-core
(bundled in axe-playwright-python) runs its WCAG rules inside the rendered page, after CSS and scripts,
in the colour scheme the test asked for, and with the page's JavaScript on or off.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from axe_playwright_python.async_playwright import DEFAULT_OPTIONS, Axe
from playwright.async_api import BrowserContext, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")

# Generous for a page on loopback, but a broken wait fails in seconds rather than Playwright's 30.
DEFAULT_TIMEOUT_MS = 15_000

# page.evaluate has no timeout of its own; an axe run that cannot finish must fail the test, not hang it.
AXE_TIMEOUT_S = 60.0

# axe's impacts are minor, moderate, serious and critical; the last two block a screen-reader user.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})

ColorScheme = Literal["light", "dark", "no-preference"]

# The HTML parser shows <noscript> content as markup only where scripting is off, so this is exactly
# "are the page's scripts disabled" as the page itself experiences it, answered without waiting.
_SCRIPTING_OFF = """() => {
  const probe = document.createElement('div');
  probe.innerHTML = '<noscript><i></i></noscript>';
  return probe.querySelector('i') !== null;
}"""

# With scripting off Chromium fires no timers (microtasks still run), and axe.run waits on setTimeout,
# so it would never finish. Here axe's setTimeout and clearTimeout run on a virtual clock that this
# function drives: a timer fires, earliest first, only once axe has spent IDLE_TURNS microtask turns
# without settling, so its long safety timeouts fire only when nothing else is left to do. No page
# script can run meanwhile, so the swap is invisible to the page; the real functions are put back.
#
# axe also always treats <noscript> and everything in it as hidden, which with scripting off would leave
# the whole fallback unchecked; each <noscript> is replaced by its children for the run and restored after.
_AXE_RUN_SCRIPTING_OFF = """async (options) => {
  const IDLE_TURNS = 100;
  const unwrapped = [...document.querySelectorAll('noscript')].map((element) => {
    const marker = document.createComment('noscript');
    const children = [...element.childNodes];
    element.replaceWith(marker, ...children);
    return [element, marker, children];
  });
  const realSetTimeout = window.setTimeout;
  const realClearTimeout = window.clearTimeout;
  const timers = new Map();
  let nextId = 1;
  let now = 0;
  window.setTimeout = (callback, delay = 0, ...args) => {
    timers.set(nextId, {at: now + Math.max(0, Number(delay) || 0), callback, args});
    return nextId++;
  };
  window.clearTimeout = (id) => { timers.delete(id); };
  try {
    let settled = false;
    let result;
    let failure;
    window.axe.run(document, options).then(
      (value) => { settled = true; result = value; },
      (error) => { settled = true; failure = error; },
    );
    while (!settled) {
      for (let idle = 0; idle < IDLE_TURNS && !settled; idle++) await null;
      if (settled) break;
      if (timers.size === 0) throw new Error('axe stalled: not finished and no timer pending');
      let next = null;
      for (const entry of timers) if (next === null || entry[1].at < next[1].at) next = entry;
      timers.delete(next[0]);
      now = next[1].at;
      next[1].callback(...next[1].args);
    }
    if (failure !== undefined) throw failure;
    return result;
  } finally {
    window.setTimeout = realSetTimeout;
    window.clearTimeout = realClearTimeout;
    for (const [element, marker, children] of unwrapped.reverse()) {
      marker.replaceWith(element);
      element.append(...children);
    }
  }
}"""


class ChromiumMissingError(RuntimeError):
    """The browser tests need Debian's chromium; they fail rather than skip, so a gap is seen."""


@asynccontextmanager
async def launched_chromium(
    *, javascript: bool = True, color_scheme: ColorScheme = "light"
) -> AsyncIterator[BrowserContext]:
    """A fresh headless Chromium and one browser context in it; everything is closed on exit.

    `javascript=False` is how a page's no-script fallback is tested; `color_scheme` sets what
    `prefers-color-scheme` reports, so dark-mode styles can be checked for contrast too. Open pages with
    `await context.new_page()`.
    """
    if not CHROMIUM.exists():
        raise ChromiumMissingError(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium; run `scripts/setup test`"
        )
    async with async_playwright() as playwright:
        # Playwright adds --no-sandbox unless chromium_sandbox is set: Chromium's sandbox refuses to run
        # as root, which is how the tests run in CI and containers.
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, chromium_sandbox=False
        )
        try:
            context = await browser.new_context(java_script_enabled=javascript, color_scheme=color_scheme)
            context.set_default_timeout(DEFAULT_TIMEOUT_MS)
            try:
                yield context
            finally:
                await context.close()
        finally:
            await browser.close()


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every axe-core violation on the page as it is now, in axe's own format, whatever the impact.

    With the page's JavaScript on this is axe-playwright-python's own run. With it off, axe is driven by
    `_AXE_RUN_SCRIPTING_OFF` above, which also checks what is inside <noscript>.
    """
    axe = Axe()
    async with asyncio.timeout(AXE_TIMEOUT_S):
        if not await page.evaluate(_SCRIPTING_OFF):
            return (await axe.run(page)).response["violations"]
        await page.evaluate(axe.axe_script)
        return (await page.evaluate(_AXE_RUN_SCRIPTING_OFF, DEFAULT_OPTIONS))["violations"]


def _selector(target: list[Any]) -> str:
    # axe names a node by a list of selectors, one per frame from the top; inside a shadow root that
    # selector is itself a list, host first.
    return " >>> ".join(" >>> ".join(part) if isinstance(part, list) else str(part) for part in target)


async def serious_axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now, in a form worth printing.

    Each is `{"id", "impact", "help", "targets"}`, with `targets` the CSS selectors of the offending
    nodes, so `assert not violations, violations` says which rule failed where. Minor and moderate
    findings (mostly best-practice rules such as "region") are left out.
    """
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [_selector(node["target"]) for node in violation["nodes"]],
        }
        for violation in await axe_violations(page)
        if violation["impact"] in BLOCKING_IMPACTS
    ]
