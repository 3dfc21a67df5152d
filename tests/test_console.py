"""The terminal chat in-process: its follow-ups carry the history, across a restart too."""

import io

from PIL import Image

from bot import console
from bot.core import texts
from bot.core.preferences import Preferences
from bot.core.service import ChatService, ServiceOptions
from inference.worker import InferenceWorker
from storage import Store
from tests.fakes import photos
from tests.fakes.codes import MENU_CODE_SENTENCE, menu_photo
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
    assert listed == ["/describe", "/read", "/scan", "/light", "/colour", "/alt", "/detail", "/codes",
                      "/lighthints", "/colourcheck", "/language", "/settings", "/reset", "/forget",
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


async def test_the_quick_checks_and_their_switches_in_the_terminal(tmp_path):
    photo = tmp_path / "menu.jpg"
    photo.write_bytes(menu_photo())
    database = f"sqlite+aiosqlite:///{tmp_path}/d.sqlite3"
    engine = FakeEngine()
    engine.enqueue("a menu on a table")
    output = await chat_once(
        database, photo, ["/scan", "/light", "/colour", "/codes off", "/lighthints off", "/colourcheck off",
                          "/settings"], engine,
    )  # fmt: skip
    lines = output.splitlines()
    assert lines[0] == f"{MENU_CODE_SENTENCE} A menu on a table."  # the code first, in every description
    assert lines.count(MENU_CODE_SENTENCE) == 1  # /scan: the code alone
    assert texts.setting_changed("codes", False) in lines
    assert texts.setting_changed("light_hints", False) in lines
    assert texts.setting_changed("colours", False) in lines
    assert "QR codes and barcodes: off." in lines and "Colour check: off." in lines
    assert len(engine.prompts) == 1  # the checks asked the model nothing

    navy = tmp_path / "navy.png"
    navy.write_bytes(photos.encode(Image.new("RGB", (400, 300), (20, 30, 90)), "PNG"))
    engine.enqueue("a blue cloth", "dark")
    output = await chat_once(
        database, navy, ["what colour is it?", "/colourcheck on", "what colour is it?"], engine
    )
    said = output.strip().splitlines()
    assert said[2:4] == ["Dark.", texts.setting_changed("colours", True)]  # off: the model answered
    assert "navy" in said[-1].lower() and len(engine.prompts) == 3  # on: measured, not asked
