"""Webhooks: the prediction POSTed to the caller's URL at the events they asked for, signed.

Signed as Replicate signs them (Standard Webhooks): headers `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
base64-decoded part of the "whsec_" secret, so `replicate.webhooks.validate` accepts them. The
`completed` event is retried with backoff on a network error, 429 or 5xx; the others are sent once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
import uuid

import httpx

from bot.api.addresses import InsideAddress, Resolve, UnknownHost, public_request, resolve_host

log = logging.getLogger(__name__)

#: Seconds between tries of a `completed` webhook (then it is given up, and logged).
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for `body`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookSender:
    """Sends webhooks in the background; `drain` waits for those still going (at shutdown)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        secret: str,
        *,
        allow_private: bool = False,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
        resolve: Resolve = resolve_host,
    ) -> None:
        self.http = http
        self.secret = secret
        self.allow_private = allow_private
        self.retry_delays_s = retry_delays_s
        #: Names to addresses for the private-network check; the webhook connects to what it answers.
        self.resolve = resolve
        self._sending: set[asyncio.Task[None]] = set()

    def send(self, url: str, body: bytes, *, event: str, prediction_id: str) -> None:
        task = asyncio.create_task(
            self._deliver(url, body, event, prediction_id), name=f"webhook-{prediction_id}"
        )
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def drain(self, timeout_s: float) -> None:
        """Give the webhooks in flight `timeout_s` to finish, then cancel the rest."""
        if not self._sending:
            return
        _, pending = await asyncio.wait(set(self._sending), timeout=timeout_s)
        for task in pending:
            task.cancel()

    async def _deliver(self, url: str, body: bytes, event: str, prediction_id: str) -> None:
        delays = self.retry_delays_s if event == "completed" else ()
        webhook_id = f"msg_{uuid.uuid4().hex}"
        for attempt in range(len(delays) + 1):
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(self.secret, webhook_id, timestamp, body),
                "user-agent": "blipbot-webhook",
            }
            try:
                # Resolved and checked at every try, and sent to the address checked.
                request = await public_request(
                    self.http,
                    "POST",
                    url,
                    resolve=self.resolve,
                    allow_private=self.allow_private,
                    timeout=10.0,
                    headers=headers,
                    content=body,
                )
                response = await self.http.send(request)
                outcome = f"HTTP {response.status_code}"
                if response.status_code != 429 and response.status_code < 500:
                    log.info("webhook %s for %s: %s", event, prediction_id, outcome)
                    return
            except InsideAddress:
                log.warning(
                    "webhook %s for %s not sent: it points into a private network", event, prediction_id
                )
                return
            except (UnknownHost, httpx.HTTPError, httpx.InvalidURL) as error:
                outcome = type(error).__name__  # an unknown name is retried: it may come back
            if attempt < len(delays):
                await asyncio.sleep(delays[attempt])
        log.warning(
            "webhook %s for %s given up after %d tries (%s)", event, prediction_id, len(delays) + 1, outcome
        )
