"""Behaviour of `storage.store.Store`, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

import storage
from storage import Exchange, NotFoundError, Store, StoredImage, TurnKind
from storage.models import Image, Turn

PHOTO = b"\xff\xd8\xff\xe0 a jpeg, as far as the store cares"
OTHER_PHOTO = b"\x89PNG another picture"


async def count(store: Store, table: str, where: str = "", **params: object) -> int:
    """Rows in a table, read with plain SQL so the check does not trust the code under test."""
    sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
    async with store.engine.connect() as connection:
        return (await connection.execute(text(sql), params)).scalar_one()


async def ask(store: Store, chat: int, image: StoredImage, question: str, answer: str) -> None:
    await store.add_turn(chat, image.id, TurnKind.QUESTION, question, answer, "fake-model", 12)


async def test_chat_id_is_get_or_create(store: Store) -> None:
    first = await store.chat_id("telegram", "42")
    assert await store.chat_id("telegram", "42") == first
    assert await store.chat_id("discord", "42") != first
    assert await store.chat_id("telegram", "43") != first
    assert await count(store, "chats") == 3


async def test_chat_id_survives_a_race(store: Store) -> None:
    ids = await asyncio.gather(*(store.chat_id("telegram", "race") for _ in range(8)))
    assert len(set(ids)) == 1
    assert await count(store, "chats") == 1


async def test_new_photo_becomes_active(store: Store) -> None:
    chat = await store.chat_id("telegram", "1")
    assert await store.active_image(chat) is None
    image = await store.add_image(chat, PHOTO, "image/jpeg", 640, 480)
    assert (image.chat_id, image.data, image.mime, image.width, image.height) == (
        chat,
        PHOTO,
        "image/jpeg",
        640,
        480,
    )
    assert len(image.content_hash) == 64
    assert await store.active_image(chat) == image
    assert await store.image(chat, image.id) == image
    assert "data" not in repr(image)  # image bytes never reach a log line through a repr


async def test_add_image_to_an_unknown_chat(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.add_image(12345, PHOTO, "image/jpeg", 1, 1)


async def test_statement_parameters_stay_out_of_logs(store: Store) -> None:
    assert store.engine.sync_engine.hide_parameters  # they carry photo bytes and questions


async def test_same_photo_twice_is_one_row(store: Store) -> None:
    chat = await store.chat_id("telegram", "1")
    first = await store.add_image(chat, PHOTO, "image/jpeg", 640, 480)
    other = await store.add_image(chat, OTHER_PHOTO, "image/png", 10, 10)
    again = await store.add_image(chat, PHOTO, "image/jpeg", 640, 480)
    assert again == first
    assert await store.active_image(chat) == first  # sending it again makes it active again
    assert other.id != first.id
    assert await count(store, "images") == 2


async def test_same_photo_in_two_chats_is_two_rows(store: Store) -> None:
    a = await store.chat_id("telegram", "a")
    b = await store.chat_id("telegram", "b")
    assert (await store.add_image(a, PHOTO, "image/jpeg", 1, 1)).id != (
        await store.add_image(b, PHOTO, "image/jpeg", 1, 1)
    ).id


async def test_chats_cannot_reach_each_others_images(store: Store) -> None:
    a = await store.chat_id("telegram", "a")
    b = await store.chat_id("telegram", "b")
    image = await store.add_image(a, PHOTO, "image/jpeg", 1, 1)
    await store.link_message(a, "m1", image.id)

    assert await store.image(b, image.id) is None
    assert await store.image_for_message(b, "m1") is None
    with pytest.raises(NotFoundError):
        await store.set_active_image(b, image.id)
    with pytest.raises(NotFoundError):
        await store.link_message(b, "m2", image.id)
    with pytest.raises(NotFoundError):
        await store.add_turn(b, image.id, TurnKind.CAPTION, None, "a cat", "m", 1)
    assert await store.active_image(b) is None


async def test_set_active_image(store: Store) -> None:
    chat = await store.chat_id("telegram", "1")
    first = await store.add_image(chat, PHOTO, "image/jpeg", 1, 1)
    await store.add_image(chat, OTHER_PHOTO, "image/png", 1, 1)
    await store.set_active_image(chat, first.id)
    assert await store.active_image(chat) == first
    with pytest.raises(NotFoundError):
        await store.set_active_image(chat, first.id + 1000)


async def test_message_links(store: Store) -> None:
    chat = await store.chat_id("discord", "1")
    first = await store.add_image(chat, PHOTO, "image/jpeg", 1, 1)
    second = await store.add_image(chat, OTHER_PHOTO, "image/png", 1, 1)
    await store.link_message(chat, "photo-message", first.id)
    await store.link_message(chat, "bot-answer", first.id)
    assert await store.image_for_message(chat, "photo-message") == first
    assert await store.image_for_message(chat, "bot-answer") == first
    assert await store.image_for_message(chat, "never-seen") is None

    await store.link_message(chat, "bot-answer", second.id)  # a message can be re-pointed
    assert await store.image_for_message(chat, "bot-answer") == second
    assert await count(store, "message_images") == 2


async def test_history_is_questions_about_the_image_oldest_first(store: Store) -> None:
    chat = await store.chat_id("telegram", "1")
    cat = await store.add_image(chat, PHOTO, "image/jpeg", 1, 1)
    dog = await store.add_image(chat, OTHER_PHOTO, "image/png", 1, 1)
    await store.add_turn(chat, cat.id, TurnKind.CAPTION, None, "a cat on a sofa", "m", 30)
    await ask(store, chat, cat, "what colour is it?", "orange")
    await ask(store, chat, dog, "what breed?", "a beagle")
    await ask(store, chat, cat, "is it asleep?", "yes")

    assert await store.history(chat, cat.id) == [
        Exchange("what colour is it?", "orange"),
        Exchange("is it asleep?", "yes"),
    ]
    assert await store.history(chat, dog.id) == [Exchange("what breed?", "a beagle")]


async def test_question_turn_needs_a_question(store: Store) -> None:
    chat = await store.chat_id("telegram", "1")
    image = await store.add_image(chat, PHOTO, "image/jpeg", 1, 1)
    with pytest.raises(ValueError, match="question"):
        await store.add_turn(chat, image.id, TurnKind.QUESTION, None, "yes", "m", 1)


async def test_reset_starts_over(store: Store) -> None:
    chat = await store.chat_id("telegram", "1")
    image = await store.add_image(chat, PHOTO, "image/jpeg", 1, 1)
    await ask(store, chat, image, "what is it?", "a cat")

    await store.reset(chat)
    assert await store.active_image(chat) is None
    assert await store.history(chat, image.id) == []
    assert await count(store, "turns") == 1  # kept on record, just no longer history

    again = await store.add_image(chat, PHOTO, "image/jpeg", 1, 1)
    assert await store.active_image(chat) == again
    await ask(store, chat, again, "is it fluffy?", "yes")
    assert await store.history(chat, again.id) == [Exchange("is it fluffy?", "yes")]


async def test_forget_removes_the_chat_and_nothing_else(store: Store) -> None:
    gone = await store.chat_id("telegram", "gone")
    kept = await store.chat_id("telegram", "kept")
    for chat in (gone, kept):
        image = await store.add_image(chat, PHOTO, "image/jpeg", 1, 1)
        await ask(store, chat, image, "what is it?", "a cat")
        await store.link_message(chat, "m1", image.id)
        await store.update_chat_settings(chat, verbose=True)
    await store.update_user_settings("telegram", "alice", language="en")
    await store.update_user_settings("telegram", "bob", language="de")
    await store.update_user_settings("discord", "alice", language="fr")

    await store.forget(gone, user_id="alice")

    for table in ("images", "turns", "message_images"):
        assert await count(store, table, "chat_id = :chat", chat=gone) == 0, table
        assert await count(store, table, "chat_id = :chat", chat=kept) == 1, table
    assert await count(store, "chats", "id = :chat", chat=gone) == 0
    assert await store.user_settings("telegram", "alice") == {}
    assert await store.user_settings("telegram", "bob") == {"language": "de"}
    assert await store.user_settings("discord", "alice") == {"language": "fr"}
    assert await store.chat_settings(kept) == {"verbose": True}
    assert (await store.active_image(kept)) is not None

    again = await store.chat_id("telegram", "gone")
    assert await store.active_image(again) is None
    assert await store.chat_settings(again) == {}
    assert await store.image_for_message(again, "m1") is None
    await store.forget(gone)  # forgetting twice is harmless


async def test_purge_deletes_old_rows_and_keeps_new(store: Store) -> None:
    chat = await store.chat_id("telegram", "1")
    old = await store.add_image(chat, PHOTO, "image/jpeg", 1, 1)
    await ask(store, chat, old, "old question", "old answer")
    await store.link_message(chat, "m-old", old.id)
    new = await store.add_image(chat, OTHER_PHOTO, "image/png", 1, 1)
    await store.add_turn(chat, new.id, TurnKind.CAPTION, None, "stale caption", "m", 1)
    await ask(store, chat, new, "new question", "new answer")
    await store.set_active_image(chat, old.id)

    now = datetime.now(UTC)
    long_ago = now - timedelta(days=60)
    async with store.engine.begin() as connection:
        await connection.execute(update(Image).where(Image.id == old.id).values(created_at=long_ago))
        await connection.execute(
            update(Turn).where(Turn.answer.in_(["old answer", "stale caption"])).values(created_at=long_ago)
        )

    deleted = await store.purge_older_than(now - timedelta(days=30))

    assert deleted == 3  # the old image, the turn about it, the stale caption
    assert await store.image(chat, old.id) is None
    assert await store.active_image(chat) is None  # it was active: the reference is cleared
    assert await store.image_for_message(chat, "m-old") is None
    assert await store.image(chat, new.id) == new
    assert await store.history(chat, new.id) == [Exchange("new question", "new answer")]
    assert await store.purge_older_than(now - timedelta(days=30)) == 0


async def test_purge_refuses_a_naive_cutoff(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.purge_older_than(datetime(2020, 1, 1))


async def test_user_settings_merge(store: Store) -> None:
    assert await store.user_settings("telegram", "alice") == {}
    assert await store.update_user_settings("telegram", "alice", language="en") == {"language": "en"}
    merged = await store.update_user_settings("telegram", "alice", verbose=True)
    assert merged == {"language": "en", "verbose": True}
    assert await store.user_settings("telegram", "alice") == merged
    assert await store.update_user_settings("telegram", "alice", language=None) == {"verbose": True}
    assert await store.user_settings("discord", "alice") == {}


async def test_user_settings_merge_concurrently(store: Store) -> None:
    keys = [f"key{n}" for n in range(6)]
    await asyncio.gather(*(store.update_user_settings("telegram", "alice", **{key: 1}) for key in keys))
    assert await store.user_settings("telegram", "alice") == dict.fromkeys(keys, 1)


async def test_chat_settings_merge(store: Store) -> None:
    chat = await store.chat_id("telegram", "1")
    assert await store.chat_settings(chat) == {}
    await store.update_chat_settings(chat, language="en")
    assert await store.update_chat_settings(chat, beams=3) == {"language": "en", "beams": 3}
    assert await store.chat_settings(chat) == {"language": "en", "beams": 3}
    with pytest.raises(NotFoundError):
        await store.chat_settings(chat + 1000)
    with pytest.raises(NotFoundError):
        await store.update_chat_settings(chat + 1000, language="en")


MIGRATIONS = Path(storage.__file__).parent / "migrations" / "versions"


async def test_opening_twice_keeps_data(store_url: str) -> None:
    """Migrations run at every start; the second start must find nothing to do and lose nothing."""
    first = await Store.open(store_url)
    chat = await first.chat_id("telegram", "1")
    await first.close()

    second = await Store.open(store_url)
    try:
        assert await second.chat_id("telegram", "1") == chat
        async with second.engine.connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
        newest = max(path.name[:4] for path in MIGRATIONS.glob("[0-9]*.py"))
        assert [row[0] for row in versions] == [newest]
    finally:
        await second.close()


async def test_sqlite_runs_in_wal_with_foreign_keys(sqlite_url: str) -> None:
    store = await Store.open(sqlite_url)
    try:
        async with store.engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one() == "wal"
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        await store.close()


async def test_sqlite_plain_url_and_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "data" / "nested" / "blipbot.sqlite3"
    store = await Store.open(f"sqlite:///{path}")
    try:
        assert store.engine.url.drivername == "sqlite+aiosqlite"
        assert await store.chat_id("console", "me") > 0
    finally:
        await store.close()
    assert path.is_file()


async def test_image_hashes_lists_only_that_chats_photos(store: Store) -> None:
    chat = await store.chat_id("telegram", "1")
    other = await store.chat_id("telegram", "2")
    first = await store.add_image(chat, PHOTO, "image/jpeg", 640, 480)
    second = await store.add_image(chat, PHOTO + b"2", "image/jpeg", 640, 480)
    await store.add_image(other, PHOTO + b"3", "image/jpeg", 640, 480)
    assert sorted(await store.image_hashes(chat)) == sorted([first.content_hash, second.content_hash])
    await store.forget(chat)
    assert await store.image_hashes(chat) == []
