"""What a real decoder (ffprobe) makes of the voice notes the bot sends."""

from __future__ import annotations

import json
import subprocess
import tempfile


def probe(data: bytes) -> dict:
    """What ffprobe makes of the file (read from disk: an OGG's duration needs seeking)."""
    with tempfile.NamedTemporaryFile(suffix=".ogg") as file:
        file.write(data)
        file.flush()
        result = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=format_name,duration:stream=codec_name",
             "-of", "json", file.name],
            capture_output=True, check=True,
        )  # fmt: skip
    return json.loads(result.stdout)


def assert_decodes(ogg: bytes) -> None:
    """A real decoder (ffprobe) accepts `ogg` as OGG/Opus audio of some length."""
    info = probe(ogg)
    assert info["format"]["format_name"] == "ogg"
    assert [stream["codec_name"] for stream in info["streams"]] == ["opus"]
    assert float(info["format"]["duration"]) > 0
