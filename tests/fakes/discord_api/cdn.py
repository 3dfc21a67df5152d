"""The attachment CDN: bytes that tests add, and files the bot uploads, served back at their URLs.

discord.py downloads `Attachment.url` with a plain unauthenticated GET, so this maps
/cdn/attachments/<channel>/<attachment id>/<filename> to the stored bytes and nothing more.
"""

from __future__ import annotations

from aiohttp import web

CDN_PREFIX = "/cdn/attachments/"


class FakeCdn:
    """Attachment bytes and content types by attachment id."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[bytes, str]] = {}

    def store(self, attachment_id: str, data: bytes, content_type: str) -> None:
        self._files[attachment_id] = (data, content_type)

    def serve(self, path: str) -> web.Response:
        """Answer a GET of `path` (which starts with CDN_PREFIX); 404 for an unknown attachment."""
        parts = path.removeprefix(CDN_PREFIX).split("/")
        if len(parts) != 3 or parts[1] not in self._files:
            return web.Response(status=404, text="Not Found")
        data, content_type = self._files[parts[1]]
        return web.Response(body=data, headers={"Content-Type": content_type})
