"""The terminal chat in-process: its follow-ups carry the history, across a restart too."""

import io

from bot import console
from bot.core.preferences import Preferences
from bot.core.service import ChatService, ServiceOptions
from inference.worker import InferenceWorker
from storage import Store
from tests.fakes import photos
from tests.fakes.engine import FakeEngine


async def chat_once(database: str, photo, lines: list[str], engine: FakeEngine) -> str:
    """One `blipbot chat` session: a fresh store, worker and service on the same database file."""
    store = await Store.open(database)
    worker = InferenceWorker(engine, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions(preferences=Preferences(detail="brief")))
    typed = iter(lines)

    def read_line(_prompt: str) -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    out = io.StringIO()
    try:
        assert await console.chat(service, photo.read_bytes(), read_line=read_line, out=out) == 0
    finally:
        await worker.stop()
        await store.close()
    return out.getvalue()


async def test_follow_ups_carry_the_history_and_survive_a_restart(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photos.jpeg())
    database = f"sqlite+aiosqlite:///{tmp_path}/blipbot.sqlite3"
    engine = FakeEngine()
    engine.enqueue("a front door", "blue")
    first = await chat_once(database, photo, ["what colour is the door?"], engine)
    assert first.splitlines()[0] == "A front door."
    assert "Blue." in first

    engine.enqueue("a front door", "yes")
    second = await chat_once(database, photo, ["is it open?", "/reset", "and now?"], engine)
    assert (
        engine.prompts[-1] == "Question: what colour is the door? Answer: Blue. Question: is it open? Answer:"
    )
    assert second.strip().splitlines()[-1] == "Please send me a photo first, then ask your question about it."


async def test_commands_in_the_chat(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(photos.jpeg())
    output = await chat_once(
        f"sqlite+aiosqlite:///{tmp_path}/b.sqlite3", photo, ["/help", "/forget", "what is it?"], FakeEngine()
    )
    assert "I describe photos" in output
    assert "Done. I have deleted" in output
    assert "Please send me a photo first" in output


async def test_the_terminal_accepts_every_command_its_help_lists(tmp_path):
    photo = tmp_path / "sign.png"
    photo.write_bytes(photos.sign("NO PARKING"))
    database = f"sqlite+aiosqlite:///{tmp_path}/c.sqlite3"
    engine = FakeEngine()
    output = await chat_once(
        database,
        photo,
        ["/help", "/read", "/alt", "/alt 60", "/detail full", "/language eng", "/settings", "/describe",
         "/privacy", "/voice on", "/reset"],
        engine,
    )  # fmt: skip
    listed = [line.split(":")[0].split()[0] for line in console.CONSOLE_HELP.splitlines() if line[:1] == "/"]
    assert listed == ["/describe", "/read", "/alt", "/detail", "/language", "/settings", "/reset", "/forget",
                      "/privacy", "/help"]  # fmt: skip
    assert "The text reads: NO PARKING" in output, "/read is OCR, not a question to the model"
    assert not any("NO PARKING" in p or "/read" in p for p in engine.prompts)
    assert "Done. Alt text will be at most 60 characters." in output
    assert "Done. I will give full descriptions from now on." in output
    assert "Done. I will read text in eng." in output
    assert "I do not know that command" in output, "/voice is not offered in the terminal"
    assert "Done. I have put the last photo aside" in output
    commands_sent_to_the_model = [p for p in engine.prompts if "/" in p]
    assert commands_sent_to_the_model == []
