"""The `discord:` config section, owned by the Discord package (documented in `config.yaml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class DiscordConfig(BaseModel):
    """One Discord application: its token, where its commands live, and whether it reads mentions."""

    model_config = ConfigDict(extra="forbid")  # a typo in a key is an error, never silently ignored

    token: SecretStr | None = None
    guild_ids: list[int] = Field(default_factory=list)
    message_content: bool = False
    max_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    state_dir: Path = Path("data")
