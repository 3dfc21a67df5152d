"""`storage.files`: uploaded files kept per token, listed, read, deleted and purged, on both backends."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from storage import Store
from storage.models import FileUpload

TOKEN_A = "a" * 64
TOKEN_B = "b" * 64


async def test_a_file_is_kept_with_its_facts_and_only_its_token_sees_it(store: Store) -> None:
    kept = await store.files.create(
        "f1", b"\x89PNG data", name="cat.png", content_type="image/png", metadata={"k": [1]},
        token_hash=TOKEN_A,
    )  # fmt: skip
    assert (kept.size, kept.name, kept.content_type, kept.metadata) == (9, "cat.png", "image/png", {"k": [1]})
    assert kept.sha256 == hashlib.sha256(b"\x89PNG data").hexdigest()
    assert await store.files.get("f1", token_hash=TOKEN_A) == kept
    assert await store.files.content("f1", token_hash=TOKEN_A) == b"\x89PNG data"
    assert await store.files.get("f1", token_hash=TOKEN_B) is None
    assert await store.files.content("f1", token_hash=TOKEN_B) is None
    assert await store.files.delete("f1", token_hash=TOKEN_B) is False
    assert await store.files.delete("f1", token_hash=TOKEN_A) is True
    assert await store.files.get("f1", token_hash=TOKEN_A) is None


async def test_files_are_listed_newest_first_per_token(store: Store) -> None:
    for name in ("one", "two", "three"):
        await store.files.create(name, b"x", name=name, content_type="text/plain", token_hash=TOKEN_A)
    await store.files.create("theirs", b"y", name="theirs", content_type="text/plain", token_hash=TOKEN_B)
    async with store.engine.begin() as connection:
        for age, file_id in enumerate(("three", "two", "one")):
            moment = datetime(2026, 12, 1, tzinfo=UTC) - timedelta(minutes=age)
            aged = update(FileUpload).where(FileUpload.id == file_id).values(created_at=moment)
            await connection.execute(aged)
    assert [f.id for f in await store.files.list(token_hash=TOKEN_A)] == ["three", "two", "one"]
    assert [f.id for f in await store.files.list(token_hash=TOKEN_A, limit=1)] == ["three"]


async def test_the_purge_deletes_files_uploaded_before_the_cutoff(store: Store) -> None:
    await store.files.create("old", b"x", name="old", content_type="image/png", token_hash=TOKEN_A)
    await store.files.create("new", b"x", name="new", content_type="image/png", token_hash=TOKEN_A)
    async with store.engine.begin() as connection:
        old = datetime.now(UTC) - timedelta(days=40)
        await connection.execute(update(FileUpload).where(FileUpload.id == "old").values(created_at=old))
    assert await store.files.purge_older_than(datetime.now(UTC) - timedelta(days=30)) == 1
    assert [f.id for f in await store.files.list(token_hash=TOKEN_A)] == ["new"]
    with pytest.raises(ValueError, match="naive"):
        await store.files.purge_older_than(datetime(2026, 1, 1))
