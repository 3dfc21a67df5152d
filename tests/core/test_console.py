"""The terminal chat in-process: its follow-ups carry the history, across a restart too."""

import io

from bot import console
from bot.preferences import Preferences
from bot.service import ChatService, ServiceOptions
from inference.worker import InferenceWorker
from storage import Store
from tests.core import photos
from tests.fakes.engine import FakeEngine


async def chat_once(database: str, photo, lines: list[str], engine: FakeEngine) -> str:
    """One `blipbot chat` session: a fresh store, worker and service on the same database file."""
    store = await Store.open(database)
    worker = InferenceWorker(engine, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, engine, ServiceOptions(preferences=Preferences(detail="brief")))
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
