"""Spoken replies: text to OGG/Opus voice notes with espeak-ng, the voice many screen readers use.

espeak-ng writes WAV to a pipe and ffmpeg encodes it as Opus in an OGG container, which is what
Telegram plays as a voice note and Discord as an audio file. Long text becomes a few notes cut
at sentence ends, so nobody has to sit through one endless recording to find a part again.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass, replace

from bot.core.chunks import split_text
from bot.core.types import Reply, ReplyKind, VoiceNote

log = logging.getLogger(__name__)

SPEECH_TIMEOUT_S = 60


class SpeechUnavailable(RuntimeError):
    """espeak-ng or ffmpeg is missing, or they failed on this text."""


@dataclass(frozen=True, slots=True)
class Speaker:
    """How to speak: an espeak-ng voice, words per minute, and how to cut long text."""

    voice: str = "en-us"
    rate_wpm: int = 175
    max_chars_per_note: int = 600
    max_notes: int = 5

    @staticmethod
    def available() -> bool:
        return shutil.which("espeak-ng") is not None and shutil.which("ffmpeg") is not None

    async def voice_notes(self, text: str) -> list[VoiceNote]:
        """OGG/Opus recordings of `text`, at most `max_notes`, each at most `max_chars_per_note`."""
        if not self.available():
            raise SpeechUnavailable("espeak-ng and ffmpeg are needed for voice replies")
        pieces = split_text(text, self.max_chars_per_note)[: self.max_notes]
        return [VoiceNote(piece, await self._speak(piece)) for piece in pieces if piece.strip()]

    async def _speak(self, text: str) -> bytes:
        wav = await _run(
            ["espeak-ng", "-v", self.voice, "-s", str(self.rate_wpm), "--stdout", "--stdin"], text.encode()
        )
        return await _run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "wav", "-i", "pipe:0",
             "-c:a", "libopus", "-b:a", "32k", "-application", "voip", "-f", "ogg", "pipe:1"],
            wav,
        )  # fmt: skip


async def _run(command: list[str], stdin: bytes) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(stdin), SPEECH_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise SpeechUnavailable(f"{command[0]} took too long") from None
    if process.returncode != 0 or not out:
        detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise SpeechUnavailable(f"{command[0]} failed: {detail[0]}")
    return out


async def with_voice(speaker: Speaker, reply: Reply, wanted: bool) -> Reply:
    """`reply` with its voice notes added, when the person asked for spoken answers.

    Only answers are spoken; when speech fails the text still goes out, and the log says why.
    """
    if not wanted or reply.kind is not ReplyKind.ANSWER:
        return reply
    try:
        notes = await speaker.voice_notes(reply.text)
    except SpeechUnavailable as error:
        log.warning("voice reply skipped: %s", error)
        return reply
    return replace(reply, voice=tuple(notes))
