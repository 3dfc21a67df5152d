"""FakeTelegram against the real python-telegram-bot: long polling, downloads, uploads and faults.

Each test starts its own fake on a free port; the Application tests drive PTB's manual lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from telegram import Bot, BotCommand, Update
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from tests.fakes.telegram_api import FakeTelegram

PRIVATE_CHAT = 42
GROUP_CHAT = -1001


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.base_url, base_file_url=tg.base_file_url) as plain_bot:
        yield plain_bot


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text(update.effective_message.text)


async def report_size(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    attachment = message.photo[-1] if message.photo else message.document
    data = await (await attachment.get_file()).download_as_bytearray()
    await message.reply_text(f"{len(data)} bytes")


async def poll_started(tg: FakeTelegram) -> None:
    """Wait until a getUpdates has arrived; wait_for would wait for it to be answered."""
    while not any(method == "getUpdates" for method, _ in tg.calls):
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_app(tg: FakeTelegram) -> AsyncIterator[tuple[Application, asyncio.Queue[object]]]:
    """A polling Application with the echo and size handlers; errors land in the yielded queue."""
    app = ApplicationBuilder().token(tg.token).base_url(tg.base_url).base_file_url(tg.base_file_url).build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(MessageHandler(filters.PHOTO | filters.Document.ALL, report_size))
    errors: asyncio.Queue[object] = asyncio.Queue()

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.put_nowait(context.error)

    app.add_error_handler(on_error)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app, errors
        finally:
            await app.updater.stop()
            await app.stop()


async def test_application_echoes_text_and_measures_the_largest_photo(tg: FakeTelegram) -> None:
    started = time.monotonic()
    async with running_app(tg):
        tg.send_text(PRIVATE_CHAT, "hello")
        reply = await tg.wait_for("sendMessage")
        assert reply == {"chat_id": PRIVATE_CHAT, "text": "hello"}
        assert tg.sent_messages(PRIVATE_CHAT) == [reply]  # wait_for returns once the call is answered

        photo = tg.send_photo(PRIVATE_CHAT, b"\xff\xd8" + b"x" * 5000)
        assert [size["width"] for size in photo["photo"]] == [90, 320, 1280]
        reply = await tg.wait_for("sendMessage")
        assert reply["text"] == "5002 bytes"
        assert [c[0] for c in tg.calls].count("getFile") == 1
    assert [m["text"] for m in tg.sent_messages(PRIVATE_CHAT)] == ["hello", "5002 bytes"]
    assert time.monotonic() - started < 5, "start, two round trips and shutdown should be quick"


async def test_too_big_file_reaches_the_handler_as_bad_request(tg: FakeTelegram) -> None:
    async with running_app(tg) as (_, errors):
        tg.send_document(
            PRIVATE_CHAT, b"tiny", file_name="scan.png", mime_type="image/png", file_size=25 << 20
        )
        error = await asyncio.wait_for(errors.get(), 5)
    assert isinstance(error, BadRequest)
    assert error.message == "File is too big"  # PTB strips the "Bad Request: " prefix


async def test_bad_gateway_reaches_the_handler_as_network_error(tg: FakeTelegram) -> None:
    tg.fail_next("sendMessage", status=502)
    async with running_app(tg) as (_, errors):
        tg.send_text(PRIVATE_CHAT, "first")
        error = await asyncio.wait_for(errors.get(), 5)
        assert isinstance(error, NetworkError) and not isinstance(error, BadRequest)
        assert tg.sent_messages() == []  # the failed attempt is in calls, not among sent messages
        tg.send_text(PRIVATE_CHAT, "second")
        await tg.wait_for_count("sendMessage", 2)
    assert [m["text"] for m in tg.sent_messages()] == ["second"]


async def test_set_my_commands_is_recorded_and_readable(tg: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("reset", "Forget the current photo")])
    params = await tg.wait_for("setMyCommands")
    assert params["commands"] == [{"command": "reset", "description": "Forget the current photo"}]
    assert await bot.get_my_commands() == (BotCommand("reset", "Forget the current photo"),)
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):  # PTB recapitalises descriptions
        await bot.set_my_commands([BotCommand("Reset", "capitals are rejected")])


# PTB itself reads the int-valued `retry_after` while building the exception's message.
@pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning")
async def test_rate_limit_and_dropped_connection(tg: FakeTelegram, bot: Bot) -> None:
    tg.send_text(PRIVATE_CHAT, "hi")
    tg.fail_next("sendMessage", status=429, retry_after=3)
    tg.fail_next("sendChatAction", disconnect=True)
    with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
        await bot.send_message(PRIVATE_CHAT, "too fast")
    with pytest.raises(NetworkError):
        await bot.send_chat_action(PRIVATE_CHAT, "typing")
    assert await bot.send_chat_action(PRIVATE_CHAT, "typing") is True
    assert (await bot.send_message(PRIVATE_CHAT, "ok")).message_id == 2


async def test_wrong_token_is_rejected(tg: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=tg.base_url):  # initialize() calls getMe
            pass
    assert tg.calls == []


async def test_long_poll_returns_as_soon_as_an_update_arrives(tg: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await poll_started(tg)
    started = time.monotonic()
    tg.send_text(PRIVATE_CHAT, "wake up")
    (update,) = await poll
    assert time.monotonic() - started < 1
    assert update.message.text == "wake up"


async def test_offset_confirms_and_limit_caps(tg: FakeTelegram, bot: Bot) -> None:
    for text in ("a", "b", "c"):
        tg.send_text(PRIVATE_CHAT, text)
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first] == ["a", "b"]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["c"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0) == ()


async def test_allowed_updates_filters_and_persists(tg: FakeTelegram, bot: Bot) -> None:
    message = tg.send_text(PRIVATE_CHAT, "pick one")
    tg.press_button(message, "yes")
    (only,) = await bot.get_updates(allowed_updates=["callback_query"])
    assert only.callback_query.data == "yes"
    assert len(await bot.get_updates()) == 1  # the setting sticks until changed
    assert len(await bot.get_updates(allowed_updates=[])) == 2  # empty means the default set


async def test_newer_poll_conflicts_with_older_and_close_releases_polls(tg: FakeTelegram, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=30))
    await poll_started(tg)
    async with Bot(tg.token, base_url=tg.base_url) as second:
        newer = asyncio.create_task(second.get_updates(timeout=30))
        with pytest.raises(Conflict):
            await older
        started = time.monotonic()
        await tg.close()
        assert await newer == ()
    assert time.monotonic() - started < 1


async def test_group_messages_reply_ids_edits_and_deletes(tg: FakeTelegram, bot: Bot) -> None:
    photo = tg.send_photo(GROUP_CHAT, b"img", chat_type="supergroup", media_group_id="album")
    question = tg.mention(GROUP_CHAT, "what is this?", reply_to_message_id=photo["message_id"])
    command = tg.send_command(GROUP_CHAT, "/reset now", addressed=True, chat_type="supergroup")
    assert [photo["message_id"], question["message_id"], command["message_id"]] == [1, 2, 3]
    assert tg.send_text(PRIVATE_CHAT, "separate chat")["message_id"] == 1
    updates = await bot.get_updates()
    parsed = updates[1].message
    assert parsed.reply_to_message.photo[-1].file_size == 3
    assert parsed.parse_entities() == {parsed.entities[0]: "@blipbot_test_bot"}
    assert updates[2].message.text == "/reset@blipbot_test_bot now"
    assert updates[2].message.entities[0].type == "bot_command"

    sent = await bot.send_message(GROUP_CHAT, "Thinking…", reply_to_message_id=question["message_id"])
    assert sent.message_id == 4 and sent.reply_to_message.message_id == 2
    edited = await bot.edit_message_text("A cat.", chat_id=GROUP_CHAT, message_id=sent.message_id)
    assert edited.text == "A cat." and tg.message(GROUP_CHAT, 4)["text"] == "A cat."
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("A cat.", chat_id=GROUP_CHAT, message_id=sent.message_id)
    assert await bot.delete_message(GROUP_CHAT, sent.message_id) is True
    with pytest.raises(BadRequest, match="not found"):
        await bot.delete_message(GROUP_CHAT, sent.message_id)
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(7777, "nobody here")


async def test_uploads_are_recorded_and_unknown_methods_answered(tg: FakeTelegram, bot: Bot) -> None:
    tg.send_text(PRIVATE_CHAT, "read it to me")
    voice = await bot.send_voice(PRIVATE_CHAT, b"OggS-fake-audio", caption="A cat on a sofa.", duration=2)
    params = await tg.wait_for("sendVoice")
    assert params["voice"].data == b"OggS-fake-audio"
    assert params["caption"] == "A cat on a sofa." and params["duration"] == 2
    assert voice.voice.file_size == len(b"OggS-fake-audio") and voice.caption == "A cat on a sofa."
    document = await bot.send_document(PRIVATE_CHAT, b"alt text", filename="alt.txt")
    assert document.document.file_name == "alt.txt"
    assert await (await document.document.get_file()).download_as_bytearray() == b"alt text"
    assert await bot.set_message_reaction(PRIVATE_CHAT, 1, "👍") is True
    assert tg.unknown_methods == ["setMessageReaction"]


async def test_wait_for_timeout_names_recent_calls(tg: FakeTelegram, bot: Bot) -> None:
    tg.send_text(PRIVATE_CHAT, "hi")
    await bot.send_chat_action(PRIVATE_CHAT, "typing")
    with pytest.raises(TimeoutError, match=r"sendChatAction .*typing"):
        await tg.wait_for("sendMessage", timeout=0.1)


async def test_add_file_serves_get_file_and_enforces_the_limit(tg: FakeTelegram, bot: Bot) -> None:
    small = tg.add_file(b"abc")
    huge = tg.add_file(b"abc", file_size=20 * 1024 * 1024 + 1)
    assert await (await bot.get_file(small)).download_as_bytearray() == b"abc"
    with pytest.raises(BadRequest, match="File is too big"):
        await bot.get_file(huge)
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")


async def test_entities_count_utf16_code_units(tg: FakeTelegram, bot: Bot) -> None:
    tg.send_text(PRIVATE_CHAT, "🐱 /describe@blipbot_test_bot please")
    (update,) = await bot.get_updates()
    entity = update.message.entities[0]
    assert (entity.type, entity.offset) == ("bot_command", 3)  # the cat is two UTF-16 units
    assert update.message.parse_entity(entity) == "/describe@blipbot_test_bot"
