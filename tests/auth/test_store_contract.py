"""One contract, both stores: SQLite (prela serve) and Postgres (DATABASE_URL)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

import prela.auth.keys as keys_module
from prela.auth.errors import InvalidName, InvalidProjectId, ProjectExists, ProjectNotFound
from prela.auth.store import SQLITE_FILE, ProjectStore, build_store
from prela.auth.store_postgres import PostgresProjectStore
from prela.auth.store_sqlite import SqliteProjectStore


async def test_create_get_and_list_projects(store: ProjectStore) -> None:
    a = await store.create_project("Project A", project_id="proj_a")
    b = await store.create_project("Project B")
    assert b.id.startswith("proj_") and len(b.id) == 17
    assert await store.get_project("proj_a") == a
    assert await store.get_project("proj_missing") is None
    assert [p.id for p in await store.list_projects()] == ["proj_a", b.id]


async def test_duplicate_project_id_is_refused(store: ProjectStore) -> None:
    await store.create_project("A", project_id="proj_a")
    with pytest.raises(ProjectExists, match="proj_a"):
        await store.create_project("again", project_id="proj_a")


@pytest.mark.parametrize("bad", ["", "-x", "a b", "p/1", "x" * 65, "proj;drop table"])
async def test_invalid_project_ids_are_refused_naming_the_value(store: ProjectStore, bad: str) -> None:
    with pytest.raises(InvalidProjectId) as raised:
        await store.create_project("n", project_id=bad)
    assert repr(bad) in str(raised.value)


async def test_invalid_names_are_refused(store: ProjectStore) -> None:
    with pytest.raises(InvalidName):
        await store.create_project("   ")
    await store.create_project("A", project_id="proj_a")
    with pytest.raises(InvalidName):
        await store.create_key("proj_a", "bad\nname")


async def test_create_key_returns_the_key_once_and_lookup_finds_it(store: ProjectStore) -> None:
    await store.create_project("A", project_id="proj_a")
    key, info = await store.create_key("proj_a", "production")
    assert key.startswith("pk_proj_a_")
    assert info.id.startswith("key_") and info.project_id == "proj_a" and info.name == "production"
    assert info.last_used is None and info.revoked_at is None
    found = await store.lookup_key(key)
    assert found is not None and found.id == info.id and found.project_id == "proj_a"


async def test_create_key_for_unknown_project_fails(store: ProjectStore) -> None:
    with pytest.raises(ProjectNotFound, match="proj_nope"):
        await store.create_key("proj_nope", "x")


async def test_lookup_of_unknown_and_malformed_keys_is_none(store: ProjectStore) -> None:
    await store.create_project("A", project_id="proj_a")
    await store.create_key("proj_a")
    assert await store.lookup_key("pk_proj_a_" + "A" * 40) is None
    assert await store.lookup_key("not-a-key") is None


async def test_malformed_key_never_reaches_the_database(
    store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(key_hash: bytes) -> None:
        raise AssertionError("the store was queried for a malformed key")

    monkeypatch.setattr(store, "_select_key_by_hash", boom)
    assert await store.lookup_key("pk_x_short") is None
    assert await store.lookup_key("garbage") is None


async def test_lookup_confirms_the_hash_with_compare_digest(
    store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_project("A", project_id="proj_a")
    key, _ = await store.create_key("proj_a")
    calls = []
    real = keys_module.hmac.compare_digest
    monkeypatch.setattr(keys_module.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert await store.lookup_key(key) is not None
    assert calls == [1]


async def test_list_keys_never_contains_secrets(store: ProjectStore) -> None:
    await store.create_project("A", project_id="proj_a")
    await store.create_project("B", project_id="proj_b")
    key1, info1 = await store.create_key("proj_a", "one")
    key2, info2 = await store.create_key("proj_a", "two")
    await store.create_key("proj_b", "other")
    listed = await store.list_keys("proj_a")
    assert [k.id for k in listed] == [info1.id, info2.id]
    text = repr(listed) + repr([k.to_dict() for k in listed])
    for key in (key1, key2):
        assert key not in text and key.rpartition("_")[2] not in text
        assert keys_module.hash_key(key).hex() not in text


async def test_revoked_key_is_not_found_and_revocation_is_idempotent(store: ProjectStore) -> None:
    await store.create_project("A", project_id="proj_a")
    key, info = await store.create_key("proj_a")
    revoked = await store.revoke_key(info.id)
    assert revoked is not None and revoked.revoked_at is not None
    assert await store.lookup_key(key) is None
    found = await store.find_key(key)
    assert found is not None and found.revoked
    again = await store.revoke_key(info.id)
    assert again is not None and again.revoked_at == revoked.revoked_at
    assert await store.revoke_key("key_000000000000") is None


async def test_revoke_scoped_to_a_project_ignores_other_projects_keys(store: ProjectStore) -> None:
    await store.create_project("A", project_id="proj_a")
    await store.create_project("B", project_id="proj_b")
    key, info = await store.create_key("proj_a")
    assert await store.revoke_key(info.id, project_id="proj_b") is None
    assert await store.lookup_key(key) is not None


async def test_last_used_is_batched_and_written_in_one_flush(
    store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_project("A", project_id="proj_a")
    _, k1 = await store.create_key("proj_a", "one")
    _, k2 = await store.create_key("proj_a", "two")
    writes = []
    real = store._update_last_used

    async def counting(uses):  # type: ignore[no-untyped-def]
        writes.append(len(uses))
        await real(uses)

    monkeypatch.setattr(store, "_update_last_used", counting)
    t1 = datetime(2026, 1, 27, 12, 30, tzinfo=UTC)
    for i in range(100):  # 100 requests: no write yet
        store.touch_last_used(k1.id, t1 + timedelta(seconds=i))
    store.touch_last_used(k2.id, t1)
    assert writes == []
    assert await store.flush_last_used() == 2
    assert writes == [2]
    by_id = {k.id: k for k in await store.list_keys("proj_a")}
    assert by_id[k1.id].last_used == t1 + timedelta(seconds=99)
    assert by_id[k2.id].last_used == t1
    # an older use arriving late never moves last_used back
    store.touch_last_used(k1.id, t1)
    await store.flush_last_used()
    assert {k.id: k for k in await store.list_keys("proj_a")}[k1.id].last_used == t1 + timedelta(seconds=99)
    assert await store.flush_last_used() == 0


async def test_pending_last_used_is_written_at_close(store: ProjectStore, tmp_path: Path) -> None:
    await store.create_project("A", project_id="proj_a")
    _, info = await store.create_key("proj_a")
    store.touch_last_used(info.id)
    await store.close()
    reopened = _reopen(store, tmp_path)
    await reopened.start()
    try:
        assert (await reopened.list_keys("proj_a"))[0].last_used is not None
    finally:
        await reopened.close()
    await store.start()  # the fixture closes it again


async def test_migrations_are_idempotent_and_versioned(store: ProjectStore, tmp_path: Path) -> None:
    await store.create_project("A", project_id="proj_a")
    again = _reopen(store, tmp_path)
    await again.start()
    await again.start()
    try:
        assert [p.id for p in await again.list_projects()] == ["proj_a"]
    finally:
        await again.close()
    assert await _schema_versions(store, tmp_path) == [1]


async def test_concurrent_starts_apply_migrations_once(store: ProjectStore, tmp_path: Path) -> None:
    others = [_reopen(store, tmp_path) for _ in range(4)]
    await asyncio.gather(*(o.start() for o in others))
    await asyncio.gather(*(o.close() for o in others))
    assert await _schema_versions(store, tmp_path) == [1]


async def test_plaintext_keys_appear_nowhere_in_the_database(store: ProjectStore, tmp_path: Path) -> None:
    await store.create_project("A", project_id="proj_a")
    keys = [(await store.create_key("proj_a", f"k{i}"))[0] for i in range(3)]
    await store.close()
    dump = _dump(store, tmp_path)
    await store.start()
    assert "proj_a" in dump  # the dump is real
    for key in keys:
        secret = key.rpartition("_")[2]
        assert key not in dump and secret not in dump and secret[:12] not in dump


def _reopen(store: ProjectStore, tmp_path: Path) -> ProjectStore:
    if isinstance(store, PostgresProjectStore):
        return PostgresProjectStore(store._dsn)
    assert isinstance(store, SqliteProjectStore)
    return build_store(None, tmp_path)


async def _schema_versions(store: ProjectStore, tmp_path: Path) -> list[int]:
    if isinstance(store, PostgresProjectStore):
        conn = await asyncpg.connect(store._dsn)
        try:
            return [
                r[0] for r in await conn.fetch("SELECT version FROM prela_auth_schema_version ORDER BY 1")
            ]
        finally:
            await conn.close()
    with sqlite3.connect(tmp_path / SQLITE_FILE) as db:
        return [r[0] for r in db.execute("SELECT version FROM prela_auth_schema_version ORDER BY 1")]


def _dump(store: ProjectStore, tmp_path: Path) -> str:
    """Everything in the database as text (pg_dump / iterdump), hashes as hex."""
    if isinstance(store, PostgresProjectStore):
        return subprocess.run(["pg_dump", store._dsn], check=True, capture_output=True, text=True).stdout
    db = sqlite3.connect(tmp_path / SQLITE_FILE)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()
