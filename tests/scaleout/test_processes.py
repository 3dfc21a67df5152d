"""Scale-out for real: `blipbot run` and `blipbot worker` processes over the local Redis and PostgreSQL.

The fake Telegram Bot API runs in this process; the bot and its workers are separate processes
started from the command line. A worker or the front end is killed with SIGKILL mid-work, and
every photo must still get exactly one answer.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from sqlalchemy import text

from bot.core import texts
from storage.engine import create_engine
from tests.fakes import photos
from tests.fakes.telegram_api import FakeTelegram
from tests.scaleout.processes import BlipbotProcess, Deployment, pending_by_worker, wait_until

FIRST_CHAT = 5000
OTHER_CHAT = 4999


def answers(tg: FakeTelegram, chat_id: int) -> list[str]:
    """What the bot said to a chat, less the place-in-line notices (edits into answers count)."""
    said = [p["text"] for p in tg.sent_messages(chat_id) if not p["text"].startswith("You are ")]
    edited = [p["text"] for m, p in tg.calls if m == "editMessageText" and int(p["chat_id"]) == chat_id]
    return said + edited


async def owed_replies(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text("SELECT count(*) FROM pending_replies"))).scalar_one()
    finally:
        await engine.dispose()


async def test_two_workers_answer_20_photos_each_once_though_one_is_killed_mid_batch(
    deployment: Deployment, processes: list[BlipbotProcess], tg: FakeTelegram, redis: Redis
) -> None:
    workers = [deployment.start("worker", f"worker{n}") for n in range(2)]
    processes.extend(workers)
    ids = {await worker.worker_id(): worker for worker in workers}
    frontend = deployment.frontend(tg)
    processes.append(frontend)
    await tg.wait_for("setMyCommands", timeout=180)

    chats = [FIRST_CHAT + n for n in range(20)]
    for n, chat in enumerate(chats):
        tg.send_photo(chat, photos.jpeg(seed=n))

    async def someone_mid_batch() -> str | None:
        holding = await pending_by_worker(redis, deployment.names)
        return next((worker for worker, count in holding.items() if count and worker in ids), None)

    victim = None
    for _ in range(600):
        victim = await someone_mid_batch()
        if victim:
            break
        await asyncio.sleep(0.02)
    assert victim is not None, "a worker took jobs"
    ids[victim].kill()

    await wait_until(lambda: all(answers(tg, chat) for chat in chats), 120, "an answer in every chat")
    await asyncio.sleep(3)  # a duplicate would arrive now
    for chat in chats:
        said = answers(tg, chat)
        assert len(said) == 1, f"chat {chat} got {said}"
        assert said[0] not in (texts.FAILED, texts.BUSY, texts.TIMEOUT, texts.STOPPING)
    # Follow-ups, now that one worker is gone: answered, each once, with the photo's history.
    for chat in chats[:5]:
        tg.send_text(chat, "what colour is it?")
    await wait_until(lambda: all(len(answers(tg, chat)) == 2 for chat in chats[:5]), 60, "follow-up answers")
    await asyncio.sleep(2)
    assert [len(answers(tg, chat)) for chat in chats[:5]] == [2] * 5
    survivor = next(worker for worker_id, worker in ids.items() if worker_id != victim)
    assert survivor.process.poll() is None
    assert await frontend.terminate() == 0
    assert await survivor.terminate() == 0, survivor.log


async def test_answers_owed_by_a_killed_front_end_are_sent_once_after_it_restarts(
    deployment: Deployment, processes: list[BlipbotProcess], tg: FakeTelegram
) -> None:
    frontend = deployment.frontend(tg, "frontend-first")
    processes.append(frontend)
    await tg.wait_for("setMyCommands", timeout=180)
    chats = [FIRST_CHAT + n for n in range(4)]
    sent = [tg.send_photo(chat, photos.jpeg(seed=n)) for n, chat in enumerate(chats)]
    # No worker runs yet: the jobs wait. Once every reply is owed, and a later update was
    # handled (so getUpdates has confirmed the photos), the front end dies.
    for _ in range(600):
        if await owed_replies(deployment.database_url) == len(chats):
            break
        await asyncio.sleep(0.05)
    assert await owed_replies(deployment.database_url) == len(chats)
    tg.send_command(OTHER_CHAT, "/help")
    await tg.wait_for("sendMessage", lambda p: int(p["chat_id"]) == OTHER_CHAT, timeout=30)
    frontend.kill()
    assert all(answers(tg, chat) == [] for chat in chats)

    worker = deployment.start("worker", "worker")
    processes.append(worker)
    await worker.worker_id()
    again = deployment.frontend(tg, "frontend-second")
    processes.append(again)
    await wait_until(lambda: all(answers(tg, chat) for chat in chats), 90, "the owed answers")
    await asyncio.sleep(3)
    for chat, photo in zip(chats, sent, strict=True):
        said = [p for p in tg.sent_messages(chat) if not p["text"].startswith("You are ")]
        assert len(said) == 1, f"chat {chat} got {[p['text'] for p in said]}"
        assert (said[0].get("reply_parameters") or {}).get("message_id") == photo["message_id"]
    assert await again.terminate() == 0
    assert await worker.terminate() == 0


async def test_sigterm_lets_a_worker_finish_and_acknowledge_its_batch(
    deployment: Deployment, processes: list[BlipbotProcess], tg: FakeTelegram, redis: Redis
) -> None:
    worker = deployment.start("worker", "worker-first")
    processes.append(worker)
    worker_id = await worker.worker_id()
    frontend = deployment.frontend(tg)
    processes.append(frontend)
    await tg.wait_for("setMyCommands", timeout=180)
    chats = [FIRST_CHAT + n for n in range(6)]
    for n, chat in enumerate(chats):
        tg.send_photo(chat, photos.jpeg(seed=n))
    for _ in range(600):
        if (await pending_by_worker(redis, deployment.names)).get(worker_id):
            break
        await asyncio.sleep(0.02)
    assert await worker.terminate() == 0, worker.log
    assert (await pending_by_worker(redis, deployment.names)).get(worker_id, 0) == 0, "its batch acknowledged"
    assert "stopped after" in worker.log

    again = deployment.start("worker", "worker-second")
    processes.append(again)
    await wait_until(lambda: all(answers(tg, chat) for chat in chats), 90, "an answer in every chat")
    await asyncio.sleep(2)
    assert [len(answers(tg, chat)) for chat in chats] == [1] * len(chats)
    assert await frontend.terminate() == 0
    assert await again.terminate() == 0
