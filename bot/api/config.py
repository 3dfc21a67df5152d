"""The `api:` config section, owned by the HTTP API package (documented in `config.yaml`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class ApiConfig(BaseModel):
    """`blipbot serve`: where it listens, who may call it, and how it names itself."""

    model_config = ConfigDict(extra="forbid")

    #: Also start the API inside `blipbot run`, beside the chat platforms.
    enabled: bool = False
    listen: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (the log says which)
    #: Accepted API tokens (`Authorization: Bearer <token>`); env BLIPBOT_API__TOKENS='["..."]'.
    tokens: list[SecretStr] = Field(default_factory=list)
    #: The `owner/name` clients run, as on Replicate.
    model_name: str = Field(default="blipbot/blip-2", pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    #: The base of the URLs in responses (urls.get, file URLs); empty: the URL the request came to.
    public_url: str = ""
    #: The longest a `Prefer: wait` request is held open, in seconds.
    max_wait_s: float = Field(default=60.0, gt=0, le=600)
    #: Signs webhooks (Standard Webhooks, as Replicate): "whsec_" + base64 key. Empty: one is made
    #: at each start; receivers can read it from GET /v1/webhooks/default/secret.
    webhook_secret: SecretStr | None = None
    #: How long fetching an image URL may take, in seconds.
    fetch_timeout_s: float = Field(default=20.0, gt=0)
    #: Let image URLs and webhooks point at loopback and private networks. Off: a caller cannot
    #: make the server call into its own network.
    allow_private_urls: bool = False

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be empty or an http(s) URL, e.g. https://blipbot.example.org")
        return value.rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        import base64
        import binascii

        if value is None or not value.get_secret_value():
            return None
        try:
            base64.b64decode(value.get_secret_value().removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise ValueError(
                'must be "whsec_" followed by base64, e.g. from `openssl rand -base64 32`'
            ) from None
        return value
