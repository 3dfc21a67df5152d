"""The page served for real: `blipbot serve`'s app (API and page) under uvicorn, over a fake model."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.api.conftest import RunningApi, running_api
from tests.fakes.engine import FakeEngine

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def status_of(html: str) -> str:
    found = re.search(r'<div id="status"[^>]*>(.*?)</div>', html, re.S)
    assert found, "the page has no status region"
    return found.group(1).strip()


@pytest.fixture
async def site(tmp_path) -> AsyncIterator[RunningApi]:
    async with running_api(tmp_path, FakeEngine(), limits={"photos_per_minute": 100}) as running:
        yield running


@pytest.fixture
async def browser_http(site: RunningApi) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, as a browser with scripts off would."""
    async with httpx.AsyncClient(base_url=site.url, timeout=30, follow_redirects=True) as http:
        yield http
