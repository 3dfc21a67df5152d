"""`blipbot doctor`: one line per part of the setup, saying whether it works and, if not, what to do.

The config is read first (nothing else can be checked without it); then every check runs at once,
each bounded by `CHECK_TIMEOUT_S`, and the lines print in a fixed order. The exit status is 0
only when nothing the config asks for failed: a platform without a token is skipped, not failed.
Nothing printed holds a secret: every line passes through the log's redaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import discord
from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.app.checks import (
    Finding,
    Status,
    check_model,
    check_ocr,
    check_queue,
    check_speech,
    check_store,
    failed,
    ok,
    skipped,
)
from bot.app.config import DEFAULT_CONFIG_PATH, ConfigError, Settings, load_settings
from bot.app.logs import blanking_order, configure_logging, redact, secrets_of
from bot.core.errors import short_reason

#: The longest one check may take; the model's can spend half a minute finding the hub offline.
CHECK_TIMEOUT_S = 90.0

Check = Callable[[Settings], Awaitable[Finding]]


async def check_telegram(settings: Settings) -> Finding:
    """getMe with telegram.token, at telegram.base_url: what the bot does first at every start."""
    config = settings.telegram
    if config.token is None:
        return skipped("telegram.token is not set")
    token = config.token.get_secret_value()
    try:
        async with Bot(token, base_url=config.base_url, base_file_url=config.base_file_url) as bot:
            username = bot.username
    except InvalidToken:
        return failed(
            "the Telegram token was refused",
            "Get a new one from @BotFather (/token) and set telegram.token.",
        )
    except TelegramError as error:
        host = urlsplit(config.base_url).netloc
        return failed(
            f"cannot reach Telegram at {host} ({short_reason(error, token)})",
            "Check the network, or telegram.base_url.",
        )
    return ok(f"the token is accepted: @{username}, receiving updates by {config.mode}")


async def check_discord(settings: Settings) -> Finding:
    """A discord.py login with discord.token (GET /users/@me), then logged straight out."""
    if settings.discord.token is None:
        return skipped("discord.token is not set")
    token = settings.discord.token.get_secret_value()
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(token)
        user = client.user
    except discord.LoginFailure:
        return failed(
            "the Discord token was refused",
            "Reset it on the Bot page of the Discord developer portal and set discord.token.",
        )
    except (discord.HTTPException, aiohttp.ClientError, OSError) as error:
        return failed(f"cannot reach Discord ({short_reason(error, token)})", "Check the network.")
    finally:
        await client.close()
    return ok(f"the token is accepted: logged in as {user}")


async def check_api(settings: Settings) -> Finding:
    """With api.enabled: its tokens are set and its port is free."""
    from bot.api.server import check_api_config  # FastAPI loads only when the API is asked for

    api = settings.api
    if not api.enabled:
        return skipped("api.enabled is off (blipbot serve starts the HTTP API on its own)")
    try:
        check_api_config(api)
    except ConfigError as error:
        return failed(str(error), "")  # the message says what to set
    if api.port:
        try:
            with socket.create_server((api.listen, api.port)):
                pass
        except OSError as error:
            return failed(
                f"cannot listen on {api.listen}:{api.port} ({error.strerror})",
                "Stop what uses that port (a blipbot already running?), or set api.port.",
            )
    page = "with the web page at /" if settings.web.enabled else "without the web page"
    tokens = len(api.tokens)
    return ok(f"on {api.listen}:{api.port}, {tokens} token{'s' if tokens > 1 else ''}, {page}")


#: Every check, in the order its line prints.
CHECKS: dict[str, Check] = {
    "store": check_store,
    "queue": check_queue,
    "model": check_model,
    "ocr": check_ocr,
    "speech": check_speech,
    "telegram": check_telegram,
    "discord": check_discord,
    "api": check_api,
}


async def run_checks(settings: Settings, checks: dict[str, Check] = CHECKS) -> dict[str, Finding]:
    """Every check at once; one that raises or takes too long is a failure like any other."""
    findings = await asyncio.gather(*(_bounded(check, settings) for check in checks.values()))
    return dict(zip(checks, findings, strict=True))


async def _bounded(check: Check, settings: Settings) -> Finding:
    try:
        return await asyncio.wait_for(check(settings), CHECK_TIMEOUT_S)
    except TimeoutError:
        return failed(f"no answer within {CHECK_TIMEOUT_S:g} s", "Check the network and the service.")
    except Exception as error:  # a check's own bug must not hide the other lines
        return failed(f"the check itself failed ({short_reason(error)})", "Please report this.")


def line(name: str, finding: Finding) -> str:
    """'ok     store: ...', 'FAILED store: ... What to do.', 'skip   discord: ...'."""
    text = f"{finding.status.value:<7}{name}: {finding.sentence}"
    if finding.status is Status.FAILED and finding.fix:
        text = f"{text}. {finding.fix}"
    return text


def config_finding(settings: Settings, path: Path | None) -> Finding:
    """Where the settings came from (the file load_settings read, the BLIPBOT_ variables set), and a
    reminder when they name nothing for `blipbot run` to start.
    """
    if path is None and DEFAULT_CONFIG_PATH.is_file():  # as load_settings chooses
        path = DEFAULT_CONFIG_PATH
    source = f"{path}" if path is not None else "the defaults (no config file)"
    names = sorted(
        name
        for name in os.environ
        if name.startswith("BLIPBOT_")
        and name.removeprefix("BLIPBOT_").split("__")[0].lower() in Settings.model_fields
    )
    variables = f" and the environment ({', '.join(names)})" if names else ""
    nothing = not (settings.telegram.token or settings.discord.token or settings.api.enabled)
    note = "; no platform is set up for blipbot run (telegram.token, discord.token or api.enabled)"
    return ok(f"valid: {source}{variables}{note if nothing else ''}")


def doctor(config_path: Path | None) -> int:
    """`blipbot doctor`: print every check's line; 0 when all pass, 2 for a bad config, else 1."""
    try:
        settings = load_settings(config_path)
    except ConfigError as error:
        print(line("config", failed(str(error), "Fix it in the config file or the environment.")))
        return 2
    # The report is this command's output: library logs show errors only, on stderr. The hub and
    # transformers keep loggers of their own at WARNING (the hub's retries offline, say), so
    # they are told too.
    secrets = secrets_of(settings)
    configure_logging("ERROR", secrets)
    for library in ("huggingface_hub", "transformers"):
        logging.getLogger(library).setLevel(logging.ERROR)
    findings = {"config": config_finding(settings, config_path), **asyncio.run(run_checks(settings))}
    blank = blanking_order(secrets)
    for name, finding in findings.items():
        print(redact(line(name, finding), blank), flush=True)
    broken = [name for name, finding in findings.items() if finding.status is Status.FAILED]
    if broken:
        print(f"{len(broken)} of {len(findings)} checks failed: {', '.join(broken)}")
        return 1
    print(f"all {len(findings)} checks passed")
    return 0
