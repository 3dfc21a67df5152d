"""The `image` input: an http(s) URL, a data: URI, or a file uploaded to `POST /v1/files`.

A data URI is kept as an uploaded file when the prediction is created, so the stored input holds
a URL, never image data, and a prediction re-run after a restart can find its photo again. A URL
is fetched when the prediction runs: with a time limit, a size limit counted while reading, and,
unless `api.allow_private_urls` is on, never from loopback or private addresses, on every redirect
(each hop connects to the address that was checked: see `addresses`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import uuid
from urllib.parse import unquote_to_bytes, urlsplit

import httpx

from bot.api.addresses import InsideAddress, Resolve, UnknownHost, public_request, resolve_host
from bot.api.config import ApiConfig
from storage import FileStore

_DATA_URI = re.compile(r"^data:(?P<type>[^,;]*)(?P<params>(;[^,;]*)*?)(?P<b64>;base64)?,(?P<data>.*)$", re.S)
#: Redirects an image URL may take before it is given up.
MAX_REDIRECTS = 5
_FILE_PATH = re.compile(r"^/v1/files/(?P<id>[A-Za-z0-9]{1,64})(/download)?/?$")


class ImageInputError(ValueError):
    """The image input cannot be used; the message is a plain sentence for the caller."""


class ImageInputs:
    """Turns `image` inputs into references on the way in and into bytes when the model needs them."""

    def __init__(
        self,
        config: ApiConfig,
        files: FileStore,
        *,
        max_bytes: int,
        http: httpx.AsyncClient,
        resolve: Resolve = resolve_host,
    ) -> None:
        self.config = config
        self.files = files
        self.max_bytes = max_bytes
        self.http = http
        #: Names to addresses for the private-network check; the request connects to what it answers.
        self.resolve = resolve
        #: Origins that are this server: a URL there names an uploaded file, read from the store.
        self.own_origins: set[str] = {_origin(f"http://{config.listen}:{config.port}")}
        if config.public_url:
            self.own_origins.add(_origin(config.public_url))

    def note_own_origin(self, base_url: str) -> None:
        """`base_url` reaches this server: file URLs there are read from the store."""
        self.own_origins.add(_origin(base_url))

    def file_url(self, base_url: str, file_id: str) -> str:
        """Where a file can be downloaded; an input naming it is read from the store, not fetched."""
        self.note_own_origin(base_url)
        return f"{base_url}/v1/files/{file_id}/download"

    async def keep_inline(self, image: str, *, token_hash: str, base_url: str) -> str:
        """A data URI stored as a file and replaced by its URL; any other value as it was."""
        if image[:5].lower() != "data:":
            return image
        data = decode_data_uri(image)
        if len(data) > self.max_bytes:
            raise ImageInputError(f"The image is larger than {self.max_bytes // (1024 * 1024)} MB.")
        kept = await self.files.create(
            uuid.uuid4().hex,
            data,
            name="image",
            content_type="application/octet-stream",
            token_hash=token_hash,
        )
        return self.file_url(base_url, kept.id)

    async def fetch(self, image: str, *, token_hash: str) -> bytes:
        """The image's bytes; ImageInputError with a plain reason when they cannot be had."""
        if image[:5].lower() == "data:":
            return decode_data_uri(image)
        parts = urlsplit(image)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImageInputError(
                "The image must be an http or https URL, a data: URI, or a file uploaded to /v1/files."
            )
        own = _FILE_PATH.match(parts.path)
        if own is not None and _origin(image) in self.own_origins:
            data = await self.files.content(own["id"], token_hash=token_hash)
            if data is None:
                raise ImageInputError("The uploaded file named in image does not exist, or has been deleted.")
            return data
        return await self._download(image)

    async def _download(self, url: str) -> bytes:
        """GET `url`, following up to `MAX_REDIRECTS` redirects, each hop resolved and checked anew."""
        for _ in range(MAX_REDIRECTS + 1):
            try:
                request = await public_request(
                    self.http,
                    "GET",
                    url,
                    resolve=self.resolve,
                    allow_private=self.config.allow_private_urls,
                    timeout=self.config.fetch_timeout_s,
                )
                sent = await self.http.send(request, stream=True, follow_redirects=False)
                async with contextlib.aclosing(sent) as response:
                    if response.has_redirect_location:
                        # Joined to the URL as named: the request's own URL holds the address.
                        url = str(httpx.URL(url).join(response.headers["location"]))
                        continue
                    return await self._read(response)
            except InsideAddress:
                raise ImageInputError(
                    "The image URL points into a private network, which this server does not fetch from."
                ) from None
            except UnknownHost:
                raise ImageInputError("The image URL's host name could not be found.") from None
            except httpx.TimeoutException:
                raise ImageInputError(
                    f"The image URL did not answer within {self.config.fetch_timeout_s:g} seconds."
                ) from None
            except (httpx.HTTPError, httpx.InvalidURL):
                raise ImageInputError("The image URL could not be reached.") from None
        raise ImageInputError(f"The image URL redirected more than {MAX_REDIRECTS} times.")

    async def _read(self, response: httpx.Response) -> bytes:
        if response.status_code != 200:
            raise ImageInputError(f"The image URL answered with HTTP status {response.status_code}.")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ImageInputError(self._too_large())
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise ImageInputError(self._too_large())
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> str:
        return f"The image at the URL is larger than {self.max_bytes // (1024 * 1024)} MB."


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a data: URI (base64 or percent-encoded); ImageInputError when malformed."""
    match = _DATA_URI.match(uri)
    if match is None:
        raise ImageInputError("The image data URI is malformed: expected data:<type>;base64,<data>.")
    if not match["b64"]:
        return unquote_to_bytes(match["data"])
    try:
        return base64.b64decode("".join(match["data"].split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImageInputError("The image data URI does not hold valid base64.") from None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"
