"""The `web:` config section, owned by the web page package (documented in `config.yaml`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr


class WebConfig(BaseModel):
    """The page `blipbot serve` shows at `/`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: When set, the page asks for this code once per browser before anything else.
    access_code: SecretStr | None = None
    #: Signs the session cookie. Empty: a new one each start (conversations then last until restart).
    session_secret: SecretStr | None = None
