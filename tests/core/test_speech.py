"""Voice notes checked with a real decoder (ffprobe)."""

import pytest

from bot.core.speech import Speaker
from tests.fakes.audio import probe

pytestmark = pytest.mark.skipif(not Speaker.available(), reason="espeak-ng and ffmpeg are not installed")


async def test_a_reply_becomes_a_valid_ogg_opus_note_whose_length_grows_with_the_text():
    speaker = Speaker()
    [short] = [n.ogg_opus for n in await speaker.voice_notes("A red door.")]
    long_text = "A red door in a white wall, with a brass handle and a small window. " * 3
    [long] = [n.ogg_opus for n in await speaker.voice_notes(long_text)]
    short_info, long_info = probe(short), probe(long)
    assert short_info["format"]["format_name"] == "ogg"
    assert [s["codec_name"] for s in short_info["streams"]] == ["opus"]
    assert 0.3 < float(short_info["format"]["duration"]) < float(long_info["format"]["duration"])


async def test_long_text_is_split_into_a_few_notes_at_sentence_ends():
    speaker = Speaker(max_chars_per_note=60, max_notes=3)
    notes = await speaker.voice_notes("This is one sentence of the answer. " * 10)
    assert len(notes) == 3
    assert all(probe(note.ogg_opus)["format"]["format_name"] == "ogg" for note in notes)
    assert all(note.text.endswith(".") for note in notes), "cut at sentence ends"


async def test_rate_changes_the_duration():
    text = "Reading this sentence at two different speeds."
    [slow] = await Speaker(rate_wpm=120).voice_notes(text)
    [fast] = await Speaker(rate_wpm=300).voice_notes(text)
    assert float(probe(slow.ogg_opus)["format"]["duration"]) > float(
        probe(fast.ogg_opus)["format"]["duration"]
    )
