"""The `telegram:` config section, owned by the Telegram package (documented in `config.yaml`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class TelegramConfig(BaseModel):
    """One bot account: its token, how updates arrive, and which chats may use it."""

    model_config = ConfigDict(extra="forbid")  # a typo in a key is an error, never silently ignored

    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    allowed_chats: list[int] = Field(default_factory=list)
    max_download_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    album_wait_s: float = Field(default=1.0, ge=0)
