"""Why blipbot could not start, in one line an operator can act on (never a traceback)."""

from __future__ import annotations


class ConfigError(Exception):
    """A bad configuration, explained in one line that names the key."""


class StartupError(Exception):
    """Something outside blipbot (database, network) stopped it from starting; said in one line."""


def short_reason(error: BaseException, *secrets: str) -> str:
    """The error's first line, without any of `secrets`, for a one-line message to the operator."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "**********")
    return text[:300]
