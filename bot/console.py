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

from bot.core.service import ChatService
from bot.core.types import ChatRef, Reply, ReplyKind

PLATFORM = "console"
QUIT_WORDS = {"/quit", "/exit", "quit", "exit"}
#: Settings commands and the preference each sets; the core checks the value.
SETTING_COMMANDS = {
    "/detail": "detail",
    "/language": "ocr_language",
    "/codes": "codes",
    "/lighthints": "light_hints",
    "/colourcheck": "colours",
    "/colorcheck": "colours",
}
UNKNOWN_COMMAND = "I do not know that command. Type /help to see what I can do."
#: The terminal's own help: exactly the commands `_handle_line` accepts (no voice notes here).
CONSOLE_HELP = """I describe photos and answer questions about them.
Type a question about the photo, for example: what colour is the door?
Commands:
/describe: describe the photo again, in full detail.
/read: read out the text in the photo.
/scan: look for a QR code or barcode in the photo and say what it holds.
/light: how much light there is in the photo, and whether a light seems to be on.
/colour: the main colours in the photo. /color works too.
/alt: a short description to use as alt text. /alt 200 sets its length.
/detail brief, normal or full: how much I say about a new photo.
/codes on or off: tell you about QR codes and barcodes in each new photo.
/lighthints on or off: tell you when a photo is too dark, too bright or blurred.
/colourcheck on or off: answer "what colour is it?" with the colours measured in the photo.
/language: the language of the text I read, for example /language deu.
/settings: show your settings.
/reset: start over with no current photo.
/forget: delete everything I stored about this chat.
/privacy: what I store and for how long.
/help: show this message. /quit or Ctrl-D: leave.
My answers come from an AI model. They can be wrong, so please double check anything important."""


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
    """A command from `CONSOLE_HELP`, or else a question about the photo."""
    command, _, argument = line.partition(" ")
    command, argument = command.lower(), argument.strip()
    if not command.startswith("/"):
        return await service.ask(ref, line)
    if command == "/help":
        return Reply(CONSOLE_HELP, ReplyKind.INFO)
    if command == "/alt" and argument:
        return await service.set_preference(ref, "alt_text_chars", argument)
    if command in SETTING_COMMANDS:
        return await service.set_preference(ref, SETTING_COMMANDS[command], argument)
    if command == "/privacy":
        return service.privacy()
    simple = {
        "/describe": service.describe_again,
        "/read": service.read_text,
        "/scan": service.scan,
        "/light": service.light,
        "/colour": service.colour,
        "/color": service.colour,
        "/alt": service.alt_text,
        "/settings": service.show_settings,
        "/reset": service.reset,
        "/forget": service.forget,
    }
    if command in simple:
        return await simple[command](ref)
    return Reply(UNKNOWN_COMMAND, ReplyKind.INFO)
