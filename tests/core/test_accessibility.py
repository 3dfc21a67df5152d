"""Detail levels, reading text, alt text, honest wording, voice and per-user settings, via the core."""

import pytest

from bot.core import texts
from bot.core.service import ChatService, ServiceOptions
from bot.core.speech import Speaker
from bot.core.types import ChatRef, ReplyKind
from bot.core.wording import NOT_SURE_PREFIX, alt_text, sentence, weave
from inference.ocr import installed_languages
from inference.prompts import DETAIL_QUESTIONS
from inference.worker import InferenceWorker
from tests.fakes import photos
from tests.fakes.engine import FakeEngine

ALICE = ChatRef("test", "chat-a", "alice")
needs_tesseract = pytest.mark.skipif(not installed_languages(), reason="tesseract-ocr is not installed")


@pytest.fixture
async def service(store, engine):
    worker = InferenceWorker(engine, batch_wait_ms=5)
    await worker.start()
    yield ChatService(store, worker, ServiceOptions(low_confidence_logprob=-1.0))
    await worker.stop()


async def test_brief_is_the_caption_alone(service, engine):
    await service.set_preference(ALICE, "detail", "brief")
    engine.enqueue("a dog on a sofa")
    reply = await service.describe_photo(ALICE, photos.jpeg())
    assert reply.text == "A dog on a sofa."
    assert [r.prompt for r in engine.requests] == [""]


async def test_normal_asks_the_detail_questions_in_the_same_batch_and_weaves_the_answers(service, engine):
    engine.enqueue("a man riding a bicycle", "1", "a city street", "a red bicycle and a blue car", "no")
    reply = await service.describe_photo(ALICE, photos.jpeg())
    [batch] = engine.batches
    assert [r.prompt for r in batch] == [""] + [f"Question: {q} Answer:" for q in DETAIL_QUESTIONS.values()]
    assert len({r.options for r in batch}) == 1
    assert reply.text == (
        "A man riding a bicycle. I count 1 person. Setting: a city street. "
        "I also see a red bicycle and a blue car."
    )


@needs_tesseract
async def test_full_adds_the_text_that_ocr_read(service, engine):
    await service.set_preference(ALICE, "detail", "full")
    engine.enqueue("a sign on a wall", "0", "a street", "a white sign", "yes")
    reply = await service.describe_photo(ALICE, photos.sign("NO PARKING", "Tow away zone"))
    assert len(engine.requests) == 5, "OCR does not go through the model queue"
    assert "The text reads: NO PARKING" in reply.text
    assert "Tow away zone" in reply.text


@needs_tesseract
async def test_full_never_claims_text_that_ocr_did_not_find(service, engine):
    await service.set_preference(ALICE, "detail", "full")
    engine.enqueue("a green field", "0", "outside", "grass", "yes")
    reply = await service.describe_photo(ALICE, photos.jpeg())
    assert "The text reads" not in reply.text
    assert "could not read it" in reply.text


@needs_tesseract
@pytest.mark.parametrize("ask", ["/read", "what does it say?", "Read this for me", "What is written on it?"])
async def test_reading_text_uses_ocr_not_the_model(service, engine, ask):
    await service.set_preference(ALICE, "detail", "brief")
    await service.describe_photo(ALICE, photos.sign("PHARMACY", "Open daily"))
    before = len(engine.requests)
    reply = await (service.read_text(ALICE) if ask == "/read" else service.ask(ALICE, ask))
    assert reply.text.startswith("The text reads:")
    assert "PHARMACY" in reply.text and "Open daily" in reply.text
    assert len(engine.requests) == before


@needs_tesseract
async def test_a_photo_without_text_says_so(service):
    await service.set_preference(ALICE, "detail", "brief")
    await service.describe_photo(ALICE, photos.jpeg())
    assert (await service.read_text(ALICE)).text == texts.NO_TEXT_FOUND


async def test_read_with_no_photo_asks_for_one(service):
    assert (await service.read_text(ALICE)).text == texts.NEED_PHOTO


async def test_alt_text_respects_its_length_and_ends_at_a_word(service, engine):
    long_caption = (
        "a man in a yellow raincoat walking a small brown dog along a wet cobbled street at night " * 2
    )
    engine.enqueue("caption", long_caption)
    await service.set_preference(ALICE, "detail", "brief")
    await service.describe_photo(ALICE, photos.jpeg())
    reply = await service.alt_text(ALICE)
    assert len(reply.text) <= 125
    assert long_caption.capitalize().startswith(reply.text)
    assert long_caption[len(reply.text)] == " ", "cut at a word boundary"
    await service.set_preference(ALICE, "alt_text_chars", "40")
    engine.enqueue(long_caption)
    assert len((await service.alt_text(ALICE)).text) <= 40


def test_alt_text_never_cuts_mid_word():
    assert alt_text("a cat sleeping on a windowsill", 20) == "A cat sleeping on a"
    assert alt_text("short", 125) == "Short."
    assert alt_text("a cat on a mat", 14) == "A cat on a mat", "the full stop is dropped before a word is"


def test_counts_are_said_as_digits():
    assert sentence("two cups and three plates, and the red one") == "2 cups and 3 plates, and the red one."
    assert sentence("Two") == "2."


async def test_an_unsure_model_is_worded_as_a_guess(service, engine):
    await service.set_preference(ALICE, "detail", "brief")
    engine.mean_logprob = -3.0
    engine.enqueue("a cat", "blue")
    caption = await service.describe_photo(ALICE, photos.jpeg())
    answer = await service.ask(ALICE, "what colour is it?")
    assert caption.text == f"{NOT_SURE_PREFIX} it looks like a cat."
    assert answer.text == f"{NOT_SURE_PREFIX} I think the answer is blue."
    engine.mean_logprob = -0.2
    engine.enqueue("red")
    assert (await service.ask(ALICE, "and now?")).text == "Red."


async def test_history_keeps_the_models_words_not_the_hedge(service, engine):
    await service.set_preference(ALICE, "detail", "brief")
    engine.mean_logprob = -3.0
    engine.enqueue("a cat", "blue", "yes")
    await service.describe_photo(ALICE, photos.jpeg())
    await service.ask(ALICE, "what colour?")
    await service.ask(ALICE, "is it big?")
    assert engine.prompts[-1] == "Question: what colour? Answer: Blue. Question: is it big? Answer:"


@pytest.mark.skipif(not Speaker.available(), reason="espeak-ng and ffmpeg are not installed")
async def test_voice_on_adds_ogg_voice_notes_to_answers_only(service, engine):
    assert (await service.set_preference(ALICE, "voice", "on")).kind is ReplyKind.INFO
    await service.set_preference(ALICE, "detail", "brief")
    engine.enqueue("a red door")
    reply = await service.describe_photo(ALICE, photos.jpeg())
    [note] = reply.voice
    assert note.text == "A red door."
    assert note.ogg_opus[:4] == b"OggS"
    assert (await service.reset(ALICE)).voice == ()
    await service.set_preference(ALICE, "voice", "off")
    assert (await service.describe_photo(ALICE, photos.jpeg(seed=3))).voice == ()


async def test_settings_are_shown_kept_and_removed_by_forget(service, store, engine):
    await service.set_preference(ALICE, "detail", "full")
    await service.set_preference(ALICE, "alt_text_chars", "80")
    summary = (await service.show_settings(ALICE)).text
    assert "Detail: full." in summary and "Alt text length: 80 characters." in summary
    assert (await service.preferences(ChatRef("test", "another-chat", "alice"))).detail == "full", "per user"
    assert (await service.preferences(ChatRef("test", "chat-a", "bob"))).detail == "normal"
    await service.forget(ALICE)
    assert (await service.preferences(ALICE)).detail == "normal"


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [("detail", "huge", "brief, normal or full"), ("voice", "maybe", "on or off"),
     ("alt_text_chars", "5", "from 20 to 1000"), ("ocr_language", "klingon", "languages I can read")],
)  # fmt: skip
async def test_bad_setting_values_explain_what_is_allowed(service, name, value, words):
    reply = await service.set_preference(ALICE, name, value)
    assert reply.is_error and words in reply.text


@pytest.mark.parametrize(
    "question", ["what texture is the sofa?", "what is the texture of the wall?", "reading glasses?"]
)
async def test_questions_that_only_look_like_read_requests_go_to_the_model(service, engine, question):
    await service.set_preference(ALICE, "detail", "brief")
    await service.describe_photo(ALICE, photos.jpeg())
    await service.ask(ALICE, question)
    assert engine.prompts[-1] == f"Question: {question} Answer:"


async def test_a_caption_only_model_gives_caption_and_text_but_asks_no_questions(store):
    engine = FakeEngine(can_answer_questions=False)
    worker = InferenceWorker(engine, batch_wait_ms=0)
    await worker.start()
    service = ChatService(store, worker, ServiceOptions())
    try:
        engine.enqueue("a dog on a sofa")
        normal = await service.describe_photo(ALICE, photos.jpeg())
    finally:
        await worker.stop()
    assert [r.prompt for r in engine.requests] == [""]
    assert normal.text == "A dog on a sofa."


async def test_add_photo_keeps_a_photo_without_describing_it(service, engine):
    assert await service.add_photo(ALICE, photos.jpeg(), message_id="5") is None
    assert engine.requests == []
    assert await service.has_photo_for(ALICE, "5")
    assert (await service.add_photo(ALICE, photos.truncated_jpeg())).is_error
    engine.enqueue("a dog")
    assert (await service.alt_text(ALICE)).text == "A dog."


def test_weave_does_not_repeat_what_the_caption_said():
    text = weave(
        "a red bicycle on a street", {"people": "none", "setting": "street", "objects": "red bicycle"}
    )
    assert text == "A red bicycle on a street."


def test_help_is_a_short_list_of_commands_without_markdown():
    lines = texts.HELP.splitlines()
    commands = [line for line in lines if line.startswith("/")]
    assert len(commands) >= 10 and all(": " in line for line in commands)
    assert not any(symbol in texts.HELP for symbol in ("*", "_", "`", "#"))
