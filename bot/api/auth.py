"""API tokens: `Authorization: Bearer <token>` (or the older `Token <token>`), or eachlabs' `X-API-Key`.

Tokens are compared in constant time and known afterwards only by their sha256, which is what
predictions and files are filed under (a client sees only its own). No token is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request


class Caller:
    """Who is calling: the hash of their token, under which their predictions and files are kept."""

    __slots__ = ("token_hash",)

    def __init__(self, token_hash: str) -> None:
        self.token_hash = token_hash

    @property
    def owner(self) -> str:
        """The name of the store's chat that keeps this caller's photos."""
        return self.token_hash[:32]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _presented(authorization: str | None, api_key: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() in ("bearer", "token") and value.strip():
            return value.strip()
        return None
    return api_key.strip() if api_key else None


def require_token(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Caller:
    """The caller, or 401 with a JSON error saying what to send."""
    presented = _presented(authorization, x_api_key)
    accepted: list[str] = request.app.state.tokens
    if presented is None:
        raise HTTPException(
            401,
            "No API token was sent. Send the header 'Authorization: Bearer <token>' "
            "(or 'X-API-Key: <token>').",
            headers={"WWW-Authenticate": "Bearer"},
        )
    matched = False
    for token in accepted:  # every one compared, so the time taken does not tell which nearly matched
        matched |= hmac.compare_digest(presented.encode(), token.encode())
    if not matched:
        raise HTTPException(401, "The API token is not valid.", headers={"WWW-Authenticate": "Bearer"})
    return Caller(token_hash(presented))


CallerDep = Annotated[Caller, Depends(require_token)]
