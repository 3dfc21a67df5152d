"""The terminal adapter: `blipbot describe` for one answer, `blipbot chat` for a conversation.

It is an adapter like the chat platforms: files and stdin in, the core's reply text out. The
chat is keyed by the local user name, so a conversation about the same photo carries on after
a restart (the store is the same file).
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.service import ChatService
from bot.types import ChatRef, Reply

PLATFORM = "console"
QUIT_WORDS = {"/quit", "/exit", "quit", "exit"}


class PhotoFileError(Exception):
    """The photo file could not be read from disk."""


def read_photo(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise PhotoFileError(f"cannot read {path}: {reason}") from None


def console_chat() -> ChatRef:
    user = _user_name()
    return ChatRef(platform=PLATFORM, chat_id=user, user_id=user)


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


async def describe(service: ChatService, data: bytes, question: str | None = None) -> Reply:
    """One photo, optionally one question; the reply (an error reply for a bad file)."""
    return await service.describe_photo(console_chat(), data, question=question)


async def chat(
    service: ChatService,
    data: bytes,
    *,
    read_line: Callable[[str], str] = input,
    out: TextIO = sys.stdout,
) -> int:
    """Describe the photo, then answer questions typed at the prompt until EOF or /quit."""
    ref = console_chat()
    reply = await service.describe_photo(ref, data)
    if reply.is_error:
        print(reply.text, file=sys.stderr)
        return 1
    print(reply.text, file=out, flush=True)
    print("Ask a question about the photo, or type /help. Press Ctrl-D to leave.", file=out, flush=True)
    while True:
        try:
            line = (await asyncio.to_thread(read_line, "> ")).strip()
        except (EOFError, KeyboardInterrupt):
            print(file=out)
            return 0
        if not line:
            continue
        if line.lower() in QUIT_WORDS:
            return 0
        reply = await _handle_line(service, ref, line)
        print(reply.text, file=out, flush=True)


async def _handle_line(service: ChatService, ref: ChatRef, line: str) -> Reply:
    command = line.lower()
    if command == "/help":
        return service.help()
    if command == "/reset":
        return await service.reset(ref)
    if command == "/forget":
        return await service.forget(ref)
    if command == "/privacy":
        return service.privacy()
    if command == "/describe":
        return await service.describe_again(ref)
    return await service.ask(ref, line)
