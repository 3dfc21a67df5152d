"""Whether a URL's host is inside a private network: the server must not be made to call in there.

Image URLs and webhooks are both addresses a caller chooses; unless `api.allow_private_urls` is
on, neither may point at loopback, private, link-local or other non-global addresses. The name
is resolved here and every address it has is checked (a name with one private address is refused).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class UnknownHost(LookupError):
    """The host name does not resolve."""


async def points_inside(url: str) -> bool:
    """True when the URL's host resolves to any non-global address; UnknownHost when it does not resolve."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnknownHost(host) from None
    return any(not ipaddress.ip_address(address[0].split("%")[0]).is_global for *_, address in found)
