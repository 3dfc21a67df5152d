"""Requests to URLs a caller chose: they connect to public addresses only, and to the ones checked.

Image URLs and webhooks are both addresses a caller chooses; unless `api.allow_private_urls` is
on, neither may reach loopback, private, link-local or other non-global addresses. The name is
resolved once, here, every address it has is checked (one private address refuses it), and the
request connects to a checked address, the name kept for the Host header and TLS, so a DNS answer
that changes between the check and the connection (rebinding) cannot move the request inside.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping

import httpx

#: Resolves a host name and port to its IP addresses, best first: `resolve_host`, or a test's own.
Resolve = Callable[[str, int], Awaitable[list[str]]]


class UnknownHost(LookupError):
    """The host name does not resolve."""


class InsideAddress(ValueError):
    """The host has a loopback, private, link-local or other non-global address."""


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` has, in the system resolver's order of preference."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnknownHost(host) from None
    return list(dict.fromkeys(str(address[0]) for *_, address in found))


def is_inside(address: str) -> bool:
    """True for any address that is not globally reachable, judged also by an IPv4 address inside it."""
    ip = ipaddress.ip_address(address.split("%")[0])
    carried = (ip.ipv4_mapped or ip.sixtofour) if isinstance(ip, ipaddress.IPv6Address) else None
    return not ip.is_global or (carried is not None and not carried.is_global)


async def public_request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    resolve: Resolve,
    allow_private: bool,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Request:
    """A request for `url` on `http` that connects to an address vetted here, not to a fresh answer.

    Raises UnknownHost, InsideAddress, httpx.InvalidURL, or httpx.ConnectTimeout when the name
    takes longer than `timeout` to resolve. With `allow_private`, the request is left to httpx.
    """
    target = httpx.URL(url)
    if allow_private:
        return http.build_request(method, target, headers=headers, content=content, timeout=timeout)
    host = target.raw_host.decode("ascii")
    try:
        async with asyncio.timeout(timeout):
            addresses = await resolve(host, target.port or (443 if target.scheme == "https" else 80))
    except TimeoutError:
        raise httpx.ConnectTimeout(f"resolving {host} took longer than {timeout:g} s") from None
    if not addresses:
        raise UnknownHost(host)
    if any(is_inside(address) for address in addresses):
        raise InsideAddress(host)
    # The pool knows connections by address only: "close" keeps a TLS connection checked for this
    # name from carrying a later request for another name at the same address.
    pinned = {"host": target.netloc.decode("ascii"), "connection": "close"}
    return http.build_request(
        method,
        target.copy_with(host=addresses[0]),
        headers={**(headers or {}), **pinned},
        content=content,
        timeout=timeout,
        extensions={"sni_hostname": host},  # TLS: the server name sent, and the certificate checked
    )
