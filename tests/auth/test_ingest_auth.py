"""IngestAuthenticator: headers → Principal, caching, revocation within the TTL, Redis sharing and outage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from prela.auth.errors import AuthUnavailable, StoreUnavailable, Unauthenticated
from prela.auth.headers import grpc_metadata_headers
from prela.auth.ingest import IngestAuthenticator
from prela.auth.redis_link import RedisLink, connect_redis
from prela.auth.store import ProjectStore, build_store

from .conftest import REDIS_URL


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[ProjectStore]:
    store = build_store(None, tmp_path, last_used_flush_s=60)
    await store.start()
    await store.create_project("A", project_id="proj_a")
    yield store
    await store.close()


class CountingStore:
    """Counts find_key calls of a real store."""

    def __init__(self, store: ProjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = store.find_key

        async def find_key(key: str):  # type: ignore[no-untyped-def]
            self.calls += 1
            return await real(key)

        monkeypatch.setattr(store, "find_key", find_key)


async def test_x_api_key_and_bearer_both_authenticate(sqlite_store: ProjectStore) -> None:
    key, info = await sqlite_store.create_key("proj_a")
    auth = IngestAuthenticator(sqlite_store)
    for headers in ({"X-API-Key": key}, {"x-api-key": key}, {"Authorization": f"Bearer {key}"}):
        principal = await auth.authenticate(headers)
        assert (principal.project_id, principal.key_id, principal.method) == ("proj_a", info.id, "api_key")


async def test_grpc_metadata_is_turned_into_headers(sqlite_store: ProjectStore) -> None:
    key, _ = await sqlite_store.create_key("proj_a")
    metadata = [("authorization", f"Bearer {key}"), ("user-agent", "grpc"), ("trace-bin", b"\x00")]
    principal = await IngestAuthenticator(sqlite_store).authenticate(grpc_metadata_headers(metadata))
    assert principal.project_id == "proj_a"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key"),
        ({"X-API-Key": ""}, "missing API key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "unsupported Authorization scheme"),
        ({"Authorization": "Bearer "}, "Authorization: Bearer has no credential"),
        ({"X-API-Key": "pk_proj_a_tooShort"}, "malformed API key"),
        ({"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"}, "malformed API key"),
        ({"X-API-Key": "pk_proj_a_" + "Z" * 40}, "unknown API key"),
    ],
)
async def test_bad_credentials_are_refused_with_a_clear_message(
    sqlite_store: ProjectStore, headers: dict[str, str], message: str
) -> None:
    with pytest.raises(Unauthenticated) as raised:
        await IngestAuthenticator(sqlite_store).authenticate(headers)
    assert message in raised.value.message
    for value in headers.values():
        if len(value) > 12:
            assert value.split()[-1] not in raised.value.message


async def test_revoked_key_is_refused_naming_only_its_id(
    sqlite_store: ProjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    key, info = await sqlite_store.create_key("proj_a")
    await sqlite_store.revoke_key(info.id)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Unauthenticated, match=f"API key {info.id} has been revoked"):
        await IngestAuthenticator(sqlite_store).authenticate({"X-API-Key": key})
    assert key not in caplog.text and key.rpartition("_")[2] not in caplog.text


async def test_off_mode_needs_no_headers() -> None:
    principal = await IngestAuthenticator(None, mode="off", default_project="default").authenticate({})
    assert (principal.project_id, principal.key_id, principal.method) == ("default", None, "off")


async def test_valid_keys_are_cached_and_uses_recorded_without_a_write(
    sqlite_store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, info = await sqlite_store.create_key("proj_a")
    counting = CountingStore(sqlite_store, monkeypatch)
    auth = IngestAuthenticator(sqlite_store, cache_ttl_s=15)
    await asyncio.gather(*(auth.authenticate({"X-API-Key": key}) for _ in range(50)))
    for _ in range(50):
        await auth.authenticate({"X-API-Key": key})
    assert counting.calls == 1
    assert info.id in sqlite_store._last_used  # recorded in memory, flushed later


async def test_unknown_keys_are_cached_briefly(
    sqlite_store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingStore(sqlite_store, monkeypatch)
    auth = IngestAuthenticator(sqlite_store, negative_ttl_s=0.2)
    unknown = {"X-API-Key": "pk_proj_a_" + "Q" * 40}
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await auth.authenticate(unknown)
    assert counting.calls == 1
    await asyncio.sleep(0.25)
    with pytest.raises(Unauthenticated):
        await auth.authenticate(unknown)
    assert counting.calls == 2


async def test_malformed_key_does_not_touch_the_store(
    sqlite_store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingStore(sqlite_store, monkeypatch)
    with pytest.raises(Unauthenticated, match="malformed"):
        await IngestAuthenticator(sqlite_store).authenticate({"X-API-Key": "pk_nope"})
    assert counting.calls == 0


async def test_revocation_elsewhere_is_seen_within_the_cache_ttl(sqlite_store: ProjectStore) -> None:
    key, info = await sqlite_store.create_key("proj_a")
    auth = IngestAuthenticator(sqlite_store, cache_ttl_s=0.3)
    await auth.authenticate({"X-API-Key": key})
    await sqlite_store.revoke_key(info.id)  # e.g. the CLI, another process: this cache is not told
    await auth.authenticate({"X-API-Key": key})  # still cached
    await asyncio.sleep(0.35)
    with pytest.raises(Unauthenticated, match="revoked"):
        await auth.authenticate({"X-API-Key": key})


async def test_revocation_through_the_authenticator_is_immediate(sqlite_store: ProjectStore) -> None:
    key, info = await sqlite_store.create_key("proj_a")
    auth = IngestAuthenticator(sqlite_store, cache_ttl_s=15)
    await auth.authenticate({"X-API-Key": key})
    assert await auth.revoke(info.id) is not None
    with pytest.raises(Unauthenticated, match="revoked"):
        await auth.authenticate({"X-API-Key": key})


async def test_store_outage_is_retryable_not_an_auth_failure(
    sqlite_store: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(key: str) -> None:
        raise StoreUnavailable("database is locked")

    monkeypatch.setattr(sqlite_store, "find_key", down)
    with pytest.raises(AuthUnavailable):
        await IngestAuthenticator(sqlite_store).authenticate({"X-API-Key": "pk_proj_a_" + "R" * 40})


@pytest.mark.integration
async def test_redis_cache_is_shared_and_revocation_through_one_is_seen_by_the_other(
    pg_database: str, tmp_path: Path, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_a = build_store(pg_database, tmp_path)
    store_b = build_store(pg_database, tmp_path)
    await store_a.start()
    await store_b.start()
    link_a, link_b = RedisLink(connect_redis(REDIS_URL)), RedisLink(connect_redis(REDIS_URL))
    try:
        await store_a.create_project("A", project_id="proj_a")
        key, info = await store_a.create_key("proj_a")
        a = IngestAuthenticator(store_a, redis=link_a, redis_prefix=redis_prefix, cache_ttl_s=0.5)
        b = IngestAuthenticator(store_b, redis=link_b, redis_prefix=redis_prefix, cache_ttl_s=0.5)
        await a.authenticate({"X-API-Key": key})  # fills Redis
        counting_b = CountingStore(store_b, monkeypatch)
        assert (await b.authenticate({"X-API-Key": key})).key_id == info.id
        assert counting_b.calls == 0  # instance B was answered by Redis, not its store
        # the Redis entry is keyed by the hash and holds no secret
        raw = aioredis.Redis.from_url(REDIS_URL)
        names = [n.decode() async for n in raw.scan_iter(match=f"{redis_prefix}*")]
        values = [await raw.get(n) for n in names]
        await raw.aclose()
        assert (
            names and all(key not in n for n in names) and all(key.encode() not in (v or b"") for v in values)
        )

        await asyncio.sleep(0.55)  # B's in-process entry expires; A revokes and deletes the Redis entry
        await a.revoke(info.id)
        with pytest.raises(Unauthenticated, match="revoked"):
            await b.authenticate({"X-API-Key": key})
        assert counting_b.calls == 1
    finally:
        await link_a.client.aclose()
        await link_b.client.aclose()
        await store_a.close()
        await store_b.close()


async def test_redis_outage_degrades_to_the_store(
    sqlite_store: ProjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    key, _ = await sqlite_store.create_key("proj_a")
    dead = RedisLink(connect_redis("redis://127.0.0.1:1/0", timeout_s=0.2))
    auth = IngestAuthenticator(sqlite_store, redis=dead, redis_prefix="unused:")
    with caplog.at_level(logging.WARNING):
        assert (await auth.authenticate({"X-API-Key": key})).project_id == "proj_a"
    assert "redis unavailable" in caplog.text
    assert not dead.usable
    await dead.client.aclose()
