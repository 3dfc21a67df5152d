"""Conversations: follow-ups with history, replies to photos, groups, allowed chats, restarts."""

from __future__ import annotations

from bot.core import texts
from tests.fakes import photos
from tests.fakes.telegram_api import FakeTelegram
from tests.telegram.harness import (
    ALICE,
    BOB,
    GROUP,
    OTHER_PRIVATE,
    PRIVATE,
    RecordingEngine,
    RunningBot,
    StartBot,
    assert_silent,
    image_keys,
    quoted,
    reply_to,
)


async def test_a_follow_up_carries_the_first_question_and_answer(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    engine.script("a red door")
    tg.send_photo(PRIVATE, photos.jpeg(), caption="what is this?")
    await reply_to(tg, PRIVATE)
    question = tg.send_text(PRIVATE, "is it open?")
    answer = await reply_to(tg, PRIVATE)
    assert quoted(answer) == question["message_id"]
    assert engine.prompts[-1] == "Question: what is this? Answer: A red door. Question: is it open? Answer:"
    assert engine.requests[0].image_key == engine.requests[1].image_key


async def test_a_question_before_any_photo_asks_for_one(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_text(PRIVATE, "what is in the picture?")
    assert (await reply_to(tg, PRIVATE))["text"] == texts.NEED_PHOTO
    assert engine.requests == []


async def test_replying_to_an_older_photo_or_to_the_answer_asks_about_that_photo(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    first = tg.send_photo(PRIVATE, photos.jpeg(seed=1))
    await reply_to(tg, PRIVATE)
    first_answer_id = first["message_id"] + 1  # the bot's answer is the chat's next message
    tg.send_photo(PRIVATE, photos.jpeg(seed=2))
    await reply_to(tg, PRIVATE)
    first_key, second_key = image_keys(engine)

    tg.send_text(PRIVATE, "and this one?", reply_to_message_id=first["message_id"])
    await reply_to(tg, PRIVATE)
    assert engine.requests[-1].image_key == first_key
    tg.send_text(PRIVATE, "what colour?", reply_to_message_id=first_answer_id)
    await reply_to(tg, PRIVATE)
    assert engine.requests[-1].image_key == first_key
    assert first_key != second_key


async def test_private_chats_never_see_each_others_photos(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_photo(PRIVATE, photos.jpeg())
    await reply_to(tg, PRIVATE)
    tg.send_text(OTHER_PRIVATE, "what is it?")
    assert (await reply_to(tg, OTHER_PRIVATE))["text"] == texts.NEED_PHOTO


async def test_in_a_group_unaddressed_messages_are_ignored(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_photo(GROUP, photos.jpeg(), chat_type="supergroup", caption="our holiday")
    tg.send_text(GROUP, "what a view", chat_type="supergroup")
    await assert_silent(tg, GROUP)
    assert engine.requests == []


async def test_in_a_group_a_mention_is_answered(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    photo = tg.send_photo(GROUP, photos.jpeg(), chat_type="supergroup", caption=f"@{tg.bot_username}")
    await reply_to(tg, GROUP)
    assert engine.prompts[0] == ""
    question = tg.mention(GROUP, "what colour is it?", chat_type="supergroup", user_id=BOB)
    answer = await reply_to(tg, GROUP)
    assert quoted(answer) == question["message_id"]
    assert engine.prompts[-1].endswith("Question: what colour is it? Answer:")
    assert len(image_keys(engine)) == 1
    assert photo["from"]["id"] == ALICE


async def test_in_a_group_a_reply_to_someone_elses_known_photo_is_answered(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    photo = tg.send_photo(
        GROUP, photos.jpeg(), chat_type="supergroup", caption=f"@{tg.bot_username} describe"
    )
    await reply_to(tg, GROUP)
    question = tg.send_text(
        GROUP, "is that a dog?", chat_type="supergroup", user_id=BOB, reply_to_message_id=photo["message_id"]
    )
    answer = await reply_to(tg, GROUP)
    assert quoted(answer) == question["message_id"]
    assert engine.prompts[-1].endswith("Question: is that a dog? Answer:")


async def test_in_a_group_a_photo_the_bot_never_saw_is_fetched_when_asked_about(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    photo = tg.send_photo(GROUP, photos.jpeg(seed=5), chat_type="supergroup")  # not addressed: not stored
    await assert_silent(tg, GROUP, wait_s=0.3)
    tg.send_text(
        GROUP,
        "what is on this?",
        chat_type="supergroup",
        user_id=BOB,
        reply_to_message_id=photo["message_id"],
    )
    await assert_silent(tg, GROUP, wait_s=0.3)  # a reply to an unknown photo without a mention
    tg.mention(
        GROUP,
        "what is on this?",
        chat_type="supergroup",
        user_id=BOB,
        reply_to_message_id=photo["message_id"],
    )
    await reply_to(tg, GROUP)
    assert engine.prompts == ["Question: what is on this? Answer:"]
    # From now on the bot knows the photo: a plain reply to it is enough.
    tg.send_text(GROUP, "and the colour?", chat_type="supergroup", reply_to_message_id=photo["message_id"])
    await reply_to(tg, GROUP)
    assert engine.requests[-1].image_key == engine.requests[0].image_key


async def test_group_and_private_history_are_separate(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.send_photo(GROUP, photos.jpeg(), chat_type="supergroup", caption=f"@{tg.bot_username}")
    await reply_to(tg, GROUP)
    tg.send_text(ALICE, "what is it?")  # Alice's private chat with the bot
    assert (await reply_to(tg, ALICE))["text"] == texts.NEED_PHOTO


async def test_chats_outside_allowed_chats_get_a_polite_refusal(
    tg: FakeTelegram, start_bot: StartBot, engine: RecordingEngine
) -> None:
    await start_bot(telegram={"allowed_chats": [PRIVATE]})
    tg.send_photo(OTHER_PRIVATE, photos.jpeg())
    assert (await reply_to(tg, OTHER_PRIVATE))["text"] == texts.NOT_ALLOWED
    tg.send_text(GROUP, "chatting", chat_type="supergroup")
    await assert_silent(tg, GROUP, wait_s=0.3)  # unaddressed group messages are not even refused
    tg.mention(GROUP, "hello?", chat_type="supergroup")
    assert (await reply_to(tg, GROUP))["text"] == texts.NOT_ALLOWED
    assert engine.requests == []
    tg.send_photo(PRIVATE, photos.jpeg())
    assert (await reply_to(tg, PRIVATE))["text"] != texts.NOT_ALLOWED
    assert len(image_keys(engine)) == 1


async def test_a_restart_keeps_the_history(
    tg: FakeTelegram, start_bot: StartBot, engine: RecordingEngine
) -> None:
    first = await start_bot()
    engine.script("a bicycle")
    tg.send_photo(PRIVATE, photos.jpeg())
    await reply_to(tg, PRIVATE)
    tg.send_text(PRIVATE, "what colour is it?")
    engine.script("blue")
    await reply_to(tg, PRIVATE)
    await first.stop()

    await start_bot()  # a new store, worker, service and adapter on the same SQLite file
    tg.send_text(PRIVATE, "is it new?")
    await reply_to(tg, PRIVATE)
    assert engine.prompts[-1] == "Question: what colour is it? Answer: Blue. Question: is it new? Answer:"


async def test_in_a_group_a_reply_to_any_message_of_the_bot_is_answered(
    tg: FakeTelegram, bot: RunningBot
) -> None:
    command = tg.send_command(GROUP, "/help", addressed=True, chat_type="supergroup")
    await reply_to(tg, GROUP)
    help_id = command["message_id"] + 1  # the bot's answer, not about any photo
    question = tg.send_text(
        GROUP, "what is it?", chat_type="supergroup", user_id=BOB, reply_to_message_id=help_id
    )
    answer = await reply_to(tg, GROUP)
    assert (answer["text"], quoted(answer)) == (texts.NEED_PHOTO, question["message_id"])
