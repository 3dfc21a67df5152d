"""The Bot API failing under the bot: retried with backoff, one reply only, and the person told at the end.

Every fault is injected in the fake server (`FakeTelegram.fail_next`) and met by the real PTB client:
a 5xx page or a dropped connection on a file download, a flood wait (429 with `retry_after`), a
request that never answers in time (PTB's 5 s read timeout), on `getFile`, the download and
`sendMessage`. A "hang" is a request the server never handled, so sending it again is right; one
handled but answered too late looks the same to any client, and the Bot API has no idempotency key,
so that case can still show a message twice (said in the README, not tested as impossible).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core import texts
from bot.telegram import replies as telegram_replies
from tests.fakes import photos
from tests.fakes.engine import RecordingEngine
from tests.fakes.telegram_api import DOWNLOAD, FakeTelegram
from tests.telegram.harness import PRIVATE, RunningBot, reply_to

PTB_READ_TIMEOUT_S = 5.0  # HTTPXRequest's default, which the bot keeps

pytestmark = pytest.mark.filterwarnings(  # PTB reads the int-valued `retry_after` in its own message
    "ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"
)


async def test_a_download_failing_three_ways_is_retried_and_answered_once(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.fail_next(DOWNLOAD, status=500)
    tg.fail_next(DOWNLOAD, disconnect=True)
    tg.fail_next(DOWNLOAD, status=429, retry_after=1)
    started = time.monotonic()
    tg.send_photo(PRIVATE, photos.jpeg())
    answer = await reply_to(tg, PRIVATE, timeout=30)
    assert answer["text"] != texts.DOWNLOAD_FAILED
    assert tg.outcomes(DOWNLOAD) == [False, False, False, True]
    # Backoff of 0.5 s and 1 s after the two network faults, then the flood wait of 1 s.
    assert time.monotonic() - started >= 2.5
    assert len(engine.requests) >= 1
    await assert_no_second_message(tg)


async def test_a_get_file_failing_is_retried(tg: FakeTelegram, bot: RunningBot) -> None:
    tg.fail_next("getFile", status=502)
    tg.fail_next("getFile", status=429, retry_after=1)
    tg.send_photo(PRIVATE, photos.jpeg())
    answer = await reply_to(tg, PRIVATE, timeout=30)
    assert answer["text"] != texts.DOWNLOAD_FAILED
    assert tg.outcomes("getFile") == [False, False, True]
    await assert_no_second_message(tg)


async def test_a_download_that_times_out_is_retried(tg: FakeTelegram, bot: RunningBot) -> None:
    tg.fail_next(DOWNLOAD, hang=True)
    started = time.monotonic()
    tg.send_photo(PRIVATE, photos.jpeg())
    answer = await reply_to(tg, PRIVATE, timeout=30)
    assert time.monotonic() - started >= PTB_READ_TIMEOUT_S  # the first try was given up on
    assert answer["text"] != texts.DOWNLOAD_FAILED
    assert tg.outcomes(DOWNLOAD) == [False, True]
    await assert_no_second_message(tg)


async def test_a_download_that_keeps_failing_tells_the_person_once(
    tg: FakeTelegram, bot: RunningBot, engine: RecordingEngine
) -> None:
    tg.fail_next(DOWNLOAD, times=telegram_replies.SEND_ATTEMPTS, status=503)
    tg.send_photo(PRIVATE, photos.jpeg())
    answer = await reply_to(tg, PRIVATE, timeout=30)
    assert answer["text"] == texts.DOWNLOAD_FAILED
    assert tg.outcomes(DOWNLOAD) == [False] * telegram_replies.SEND_ATTEMPTS
    assert engine.requests == []  # nothing reached the model
    await assert_no_second_message(tg)
    # The bot is still there for the next picture.
    tg.send_photo(PRIVATE, photos.jpeg())
    await tg.wait_for_count("sendMessage", 2, timeout=30)
    assert tg.sent_messages(PRIVATE)[-1]["text"] != texts.DOWNLOAD_FAILED


async def test_a_send_that_times_out_is_sent_again_once(tg: FakeTelegram, bot: RunningBot) -> None:
    tg.fail_next("sendMessage", hang=True)
    started = time.monotonic()
    tg.send_command(PRIVATE, "/help")
    help_text = await reply_to(tg, PRIVATE, timeout=30)
    assert time.monotonic() - started >= PTB_READ_TIMEOUT_S
    assert help_text["text"] == texts.HELP
    assert tg.outcomes("sendMessage") == [False, True]
    await assert_no_second_message(tg)


async def assert_no_second_message(tg: FakeTelegram, wait_s: float = 1.0) -> None:
    """Exactly one message reached the chat, and no other turns up within `wait_s`."""
    await asyncio.sleep(wait_s)
    assert len(tg.sent_messages(PRIVATE)) == 1
