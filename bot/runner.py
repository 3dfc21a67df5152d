"""`blipbot run`: start every configured chat platform on one event loop, stop them cleanly.

Adapters are found, not listed: any module in `bot/` with `is_configured(settings)` and
`build_adapter(settings, service)` functions is a platform (a new platform is a new file);
`build_adapter` returns None when the platform's token is not configured. SIGINT and SIGTERM
stop the adapters first (no new messages), then the worker finishes what is queued, then the
store closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import pkgutil
import signal
import sys
from types import ModuleType
from typing import Protocol

import bot
from bot.app import StartupError, running_service, short_reason
from bot.config import ConfigError, Settings
from bot.service import ChatService

log = logging.getLogger(__name__)


class Adapter(Protocol):
    """A running platform connection. `start` returns once it is receiving messages."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def adapter_modules() -> list[ModuleType]:
    """Every module in `bot/` that is a platform: it has `build_adapter` and `is_configured`."""
    modules = []
    for module_info in sorted(pkgutil.iter_modules(bot.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"bot.{module_info.name}")
        if hasattr(module, "build_adapter") and hasattr(module, "is_configured"):
            modules.append(module)
    return modules


def discover_adapters(settings: Settings, service: ChatService) -> list[Adapter]:
    adapters = [module.build_adapter(settings, service) for module in adapter_modules()]
    return [adapter for adapter in adapters if adapter is not None]


def configured_platforms(settings: Settings) -> list[str]:
    """Platforms with a token, checked before the model loads so a bare start fails fast."""
    return [
        module.__name__.rsplit(".", 1)[-1] for module in adapter_modules() if module.is_configured(settings)
    ]


async def run_bots(settings: Settings, *, stop_event: asyncio.Event | None = None) -> int:
    if not configured_platforms(settings):
        print(
            "blipbot: no chat platform is configured. Set telegram.token (BLIPBOT_TELEGRAM__TOKEN) "
            "or discord.token (BLIPBOT_DISCORD__TOKEN); see the README.",
            file=sys.stderr,
        )
        return 2
    stop_event = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread (tests)
            loop.add_signal_handler(signum, stop_event.set)
    async with running_service(settings) as service:
        adapters = discover_adapters(settings, service)
        started: list[Adapter] = []
        try:
            for adapter in adapters:
                try:
                    await adapter.start()
                except ConfigError:
                    raise
                except Exception as error:  # network down, server refusing: one line, not a traceback
                    secrets = [
                        t.get_secret_value() for t in (settings.telegram.token, settings.discord.token) if t
                    ]
                    raise StartupError(
                        f"{adapter.name} could not start: {short_reason(error, *secrets)}"
                    ) from None
                started.append(adapter)
                log.info("%s adapter started", adapter.name)
            await stop_event.wait()
            log.info("stopping")
        finally:
            for adapter in reversed(started):
                try:
                    await adapter.stop()
                except Exception:
                    log.exception("%s adapter did not stop cleanly", adapter.name)
    return 0
