"""/settings, /detail, /voice and /language: private answers, stored per person, used by later answers."""

from __future__ import annotations

import pytest

from bot.core import texts
from bot.core.preferences import Preferences
from bot.core.service import ChatService
from bot.core.speech import Speaker
from bot.discord.settings import MAX_SUGGESTIONS, language_suggestions
from inference.prompts import detail_prompts
from tests.discord.driver import Driver, is_ephemeral, settle
from tests.discord.harness import OCR_TEXT
from tests.fakes.audio import probe
from tests.fakes.engine import RecordingEngine

needs_speech = pytest.mark.skipif(not Speaker.available(), reason="espeak-ng and ffmpeg are not installed")


async def private_answer(driver: Driver, name: str, options: dict | None = None) -> str:
    """A quick setting command's answer: sent at once (no "thinking"), only the user sees it."""
    _, callback = await driver.command(name, options)
    assert callback.json["type"] == 4 and is_ephemeral(callback)
    assert callback.json["data"]["allowed_mentions"] == {"parse": []}
    return callback.json["data"]["content"]


async def test_settings_shows_the_defaults_privately(driver: Driver, adapter) -> None:
    assert await private_answer(driver, "settings") == texts.settings_summary(Preferences(detail="brief"))


async def test_changed_settings_are_confirmed_kept_and_survive_a_restart(
    driver: Driver, start_adapter
) -> None:
    adapter = await start_adapter()
    assert await private_answer(driver, "detail", {"level": "full"}) == texts.setting_changed(
        "detail", "full"
    )
    assert await private_answer(driver, "language", {"code": "ENG"}) == texts.setting_changed(
        "ocr_language", "eng"
    )
    await private_answer(driver, "alt", {"length": 200})
    await adapter.stop()

    await start_adapter()
    expected = Preferences(detail="full", ocr_language="eng", alt_text_chars=200)
    assert await private_answer(driver, "settings") == texts.settings_summary(expected)


async def test_settings_are_per_person(driver: Driver, adapter) -> None:
    await private_answer(driver, "detail", {"level": "full"})
    payload = driver.fake.slash_command("settings", user=driver.fake.user("bob"))
    callback = await driver.invoke(payload)
    assert "Detail: brief." in callback.json["data"]["content"]


async def test_detail_full_makes_a_plain_describe_ask_the_detail_questions_and_read_the_text(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    await private_answer(driver, "detail", {"level": "full"})
    payload, _ = await driver.command("describe", {"image": driver.photo()})
    answer = (await driver.followup(payload)).json["content"]
    assert engine.prompts == ["", *detail_prompts().values()]
    assert OCR_TEXT in answer

    await private_answer(driver, "detail", {"level": "brief"})
    payload, _ = await driver.command("describe", {"image": driver.photo(seed=1)})
    await driver.followup(payload)
    assert engine.prompts[5:] == [""]


async def test_a_language_that_is_not_installed_is_refused_with_the_ones_that_are(
    driver: Driver, adapter, service: ChatService, monkeypatch
) -> None:
    monkeypatch.setattr(service.ctx, "ocr_languages", lambda: ["deu", "eng"])
    answer = await private_answer(driver, "language", {"code": "klingon"})
    assert answer.startswith("The languages I can read are: deu, eng.")
    assert "Reading language: eng." in await private_answer(driver, "settings")


async def test_language_without_a_code_lists_the_installed_languages(
    driver: Driver, adapter, service: ChatService, monkeypatch
) -> None:
    monkeypatch.setattr(service.ctx, "ocr_languages", lambda: ["deu", "eng"])
    assert await private_answer(driver, "language") == texts.ocr_languages("eng", ["deu", "eng"])
    monkeypatch.setattr(service.ctx, "ocr_languages", lambda: [])
    assert await private_answer(driver, "language") == texts.OCR_UNAVAILABLE


async def test_language_suggests_installed_codes_while_typing(
    driver: Driver, adapter, service: ChatService, monkeypatch
) -> None:
    monkeypatch.setattr(service.ctx, "ocr_languages", lambda: ["deu", "eng", "fra"])
    choices = await driver.autocomplete("language", {"code": "e"}, focused="code")
    assert choices == [{"name": "eng", "value": "eng"}]
    choices = await driver.autocomplete("language", {"code": "eng+"}, focused="code")
    assert [c["value"] for c in choices] == ["eng+deu", "eng+fra"]


def test_language_suggestions_stop_at_discords_limit_and_skip_chosen_codes() -> None:
    many = [f"l{n:02}" for n in range(40)]
    assert len(language_suggestions("", many)) == MAX_SUGGESTIONS
    assert language_suggestions(" DEU+Eng+", ["deu", "eng", "fra"]) == ["deu+eng+fra"]
    assert language_suggestions("xyz", ["eng"]) == []


async def test_voice_off_is_confirmed_privately(driver: Driver, adapter) -> None:
    assert await private_answer(driver, "voice", {"mode": "off"}) == texts.setting_changed("voice", False)


@needs_speech
async def test_voice_on_sends_each_answer_as_an_ogg_file_after_the_text(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    assert await private_answer(driver, "voice", {"mode": "on"}) == texts.setting_changed("voice", True)
    engine.script("a red door")
    payload, _ = await driver.command("describe", {"image": driver.photo()})
    text = (await driver.followup(payload)).json
    assert text["content"] == "A red door."
    audio = await driver.followup(payload, timeout=30)
    [file] = audio.files
    assert file.filename == "answer-1.ogg"
    info = probe(file.data)  # espeak-ng's words, encoded as Opus by ffmpeg, read back by ffprobe
    assert info["format"]["format_name"] == "ogg"
    assert [stream["codec_name"] for stream in info["streams"]] == ["opus"]
    assert float(info["format"]["duration"]) > 0
    assert audio.json["attachments"][0]["description"] == "A red door."


@needs_speech
async def test_voice_on_alt_with_an_image_speaks_the_alt_text_alone(
    driver: Driver, adapter, engine: RecordingEngine
) -> None:
    await private_answer(driver, "voice", {"mode": "on"})
    engine.script("a red door")
    payload, _ = await driver.command("alt", {"image": driver.photo()})
    assert (await driver.followup(payload)).json["content"] == "A red door."
    audio = await driver.followup(payload, timeout=30)
    assert audio.json["attachments"][0]["description"] == "A red door."
    await settle(adapter)
    assert len(engine.requests) == 1  # no description first, so nothing else to speak
    assert len(driver.fake.followups(payload["token"])) == 2
