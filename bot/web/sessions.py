"""A conversation per browser: a signed cookie names it; no account, nothing else in the cookie.

The cookie is `<session id>.<unlocked>.<signature>` (HMAC-SHA256 over the first two parts), so a
browser can neither pick another's session nor claim to have typed the access code. The form
posts carry a token derived from the session id (CSRF), and the cookie is SameSite=Strict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE = "blipbot_session"
#: Kept for as long as the chats' data: the store deletes the conversation after retention anyway.
MAX_AGE_S = 400 * 24 * 3600


@dataclass(frozen=True, slots=True)
class WebSession:
    id: str
    unlocked: bool
    is_new: bool = False


class WebSessions:
    """Issues, reads and checks sessions; one per app."""

    def __init__(self, secret: bytes, *, access_code: str | None) -> None:
        self._secret = secret
        self._access_code = access_code

    @property
    def needs_code(self) -> bool:
        return self._access_code is not None

    def new(self) -> WebSession:
        return WebSession(secrets.token_urlsafe(18), unlocked=not self.needs_code, is_new=True)

    def read(self, cookie: str | None) -> WebSession:
        """The session the cookie names, or a new one when it is missing or forged."""
        if cookie:
            sid, _, rest = cookie.partition(".")
            flag, _, signature = rest.partition(".")
            if sid and flag in ("0", "1") and hmac.compare_digest(signature, self._sign(f"{sid}.{flag}")):
                return WebSession(sid, unlocked=flag == "1" or not self.needs_code)
        return self.new()

    def cookie(self, session: WebSession) -> str:
        flag = "1" if session.unlocked else "0"
        return f"{session.id}.{flag}.{self._sign(f'{session.id}.{flag}')}"

    def csrf_token(self, session: WebSession) -> str:
        return self._sign(f"csrf:{session.id}")

    def csrf_ok(self, session: WebSession, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token or "", self.csrf_token(session))

    def unlock(self, session: WebSession, code: str) -> WebSession | None:
        """The session unlocked, or None when the code is wrong."""
        expected = (self._access_code or "").encode()
        if not hmac.compare_digest(code.strip().encode(), expected):
            return None
        return WebSession(session.id, unlocked=True)

    def _sign(self, text: str) -> str:
        digest = hmac.new(self._secret, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
