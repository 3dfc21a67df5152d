"""Where the tests find the local services every machine runs (CI's too), and how strict to be.

On a developer machine a missing PostgreSQL or Redis skips the tests that need it; in CI it
fails them, since CI must exercise both.
"""

from __future__ import annotations

import os

POSTGRES_URL = os.environ.get(
    "BLIPBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
POSTGRES_CONNECT_TIMEOUT_S = 5
#: Each test works under a Redis key prefix of its own (the `names` fixture).
REDIS_URL = os.environ.get("BLIPBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
