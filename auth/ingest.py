"""Ingest authentication: the API key of a request (`X-API-Key` or `Authorization: Bearer pk_…`) → Principal.

Validated keys are cached in-process for `key_cache_ttl_s` and, with Redis, shared between
instances for the same time (entries keyed by the key's SHA-256, never the key). A revoked key
therefore stops working within 2 x TTL (≤ 30 s) everywhere, and at once on the instance that
revoked it. Unknown and revoked keys are cached briefly too (`negative_cache_ttl_s`), in-process only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from prela.auth.errors import AuthUnavailable, MalformedKey, StoreUnavailable, Unauthenticated
from prela.auth.headers import Headers, api_key_of
from prela.auth.keys import hash_key, parse_key
from prela.auth.records import KeyInfo, Principal
from prela.auth.redis_link import REDIS_ERRORS, RedisLink
from prela.auth.store import ProjectStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Entry:
    info: KeyInfo | None  # None: unknown key
    expires: float


class _TtlCache:
    """key hash → lookup result, with expiry and a size bound (least recently used goes first)."""

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._max = max_entries

    def get(self, key_hash: bytes, now: float) -> _Entry | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry.expires <= now:
            del self._entries[key_hash]
            return None
        self._entries.move_to_end(key_hash)
        return entry

    def put(self, key_hash: bytes, entry: _Entry) -> None:
        self._entries[key_hash] = entry
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def drop_key_id(self, key_id: str) -> None:
        for key_hash in [h for h, e in self._entries.items() if e.info is not None and e.info.id == key_id]:
            del self._entries[key_hash]

    def clear(self) -> None:
        self._entries.clear()


def _encode(info: KeyInfo) -> bytes:
    return json.dumps(
        {
            "id": info.id,
            "project_id": info.project_id,
            "name": info.name,
            "created_at": info.created_at.isoformat(),
        }
    ).encode()


def _decode(raw: bytes) -> KeyInfo:
    doc = json.loads(raw)
    return KeyInfo(
        id=str(doc["id"]),
        project_id=str(doc["project_id"]),
        name=str(doc["name"]),
        created_at=datetime.fromisoformat(doc["created_at"]),
    )


class IngestAuthenticator:
    """`authenticate(headers) -> Principal`, or `Unauthenticated` / `AuthUnavailable` (retryable)."""

    def __init__(
        self,
        store: ProjectStore | None,
        *,
        mode: str = "required",
        default_project: str = "default",
        cache_ttl_s: float = 15.0,
        negative_ttl_s: float = 5.0,
        redis: RedisLink | None = None,
        redis_prefix: str = "prela:auth:",
        max_cached_keys: int = 100_000,
    ) -> None:
        if mode == "required" and store is None:
            raise ValueError("mode 'required' needs a ProjectStore")
        self._store = store
        self._off = mode == "off"
        self._default_project = default_project
        self._ttl = cache_ttl_s
        self._negative_ttl = negative_ttl_s
        self._redis = redis
        self._prefix = redis_prefix
        self._cache = _TtlCache(max_cached_keys)
        self._negative = _TtlCache(
            max(1000, max_cached_keys // 10)
        )  # a flood of bad keys evicts only bad keys
        self._inflight: dict[bytes, asyncio.Future[KeyInfo | None]] = {}

    @property
    def mode(self) -> str:
        return "off" if self._off else "required"

    async def authenticate(self, headers: Headers) -> Principal:
        """The principal of a request from its headers (HTTP headers or gRPC metadata as a dict)."""
        if self._off:
            return Principal(self._default_project, None, method="off")
        return await self.authenticate_key(api_key_of(headers))

    async def authenticate_key(self, key: str) -> Principal:
        """The principal of one API key (also used by the query API for keys)."""
        try:
            parse_key(key)
        except MalformedKey as exc:
            raise Unauthenticated(f"malformed API key: {exc}") from None
        info = await self._resolve(hash_key(key), key)
        if info is None:
            raise Unauthenticated("unknown API key")
        if info.revoked:
            raise Unauthenticated(f"API key {info.id} has been revoked")
        if self._store is not None:  # a key came from the store, so there is one
            self._store.touch_last_used(info.id)
        return Principal(info.project_id, info.id, method="api_key")

    async def forget_key(self, key_id: str) -> None:
        """Drop a (revoked) key from this instance's cache and from Redis, so it fails at once."""
        self._cache.drop_key_id(key_id)
        if self._redis is None or not self._redis.usable:
            return
        client = self._redis.client
        try:
            key_hash = await client.get(self._kid_key(key_id))
            names = [self._kid_key(key_id)]
            if key_hash:
                names.append(self._entry_key(key_hash.decode() if isinstance(key_hash, bytes) else key_hash))
            await client.delete(*names)
            self._redis.succeeded()
        except REDIS_ERRORS as exc:
            self._redis.failed("forget_key", exc)

    async def revoke(self, key_id: str, project_id: str | None = None) -> KeyInfo | None:
        """Revoke in the store and forget it in the caches; None when unknown (or of another project)."""
        if self._store is None:
            raise ValueError("no ProjectStore to revoke in")
        info = await self._store.revoke_key(key_id, project_id)
        if info is not None:
            await self.forget_key(key_id)
        return info

    def clear_cache(self) -> None:
        self._cache.clear()
        self._negative.clear()

    # lookups

    def _entry_key(self, key_hash_hex: str) -> str:
        return f"{self._prefix}key:{key_hash_hex}"

    def _kid_key(self, key_id: str) -> str:
        return f"{self._prefix}kid:{key_id}"

    async def _resolve(self, key_hash: bytes, key: str) -> KeyInfo | None:
        now = time.monotonic()
        entry = self._cache.get(key_hash, now) or self._negative.get(key_hash, now)
        if entry is not None:
            return entry.info
        # One lookup per key at a time: a burst of requests with a cold key waits for the first.
        pending = self._inflight.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[KeyInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[key_hash] = future
        try:
            info = await self._lookup(key_hash, key)
            future.set_result(info)
            return info
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._inflight[key_hash]

    async def _lookup(self, key_hash: bytes, key: str) -> KeyInfo | None:
        info = await self._from_redis(key_hash)
        if info is None:
            if self._store is None:
                raise RuntimeError("API key lookup without a project store")
            try:
                info = await self._store.find_key(key)
            except StoreUnavailable as exc:
                logger.warning("api key lookup failed: store unavailable error=%r", str(exc)[:200])
                raise AuthUnavailable("the API key store is unavailable, retry later") from exc
            if info is not None and not info.revoked:
                await self._to_redis(key_hash, info)
        now = time.monotonic()
        if info is not None and not info.revoked:
            if self._ttl > 0:
                self._cache.put(key_hash, _Entry(info, now + self._ttl))
        elif self._negative_ttl > 0:
            self._negative.put(key_hash, _Entry(info, now + self._negative_ttl))
            logger.info(
                "api key refused reason=%s key_id=%s",
                "revoked" if info is not None else "unknown",
                info.id if info is not None else "-",
            )
        return info

    async def _from_redis(self, key_hash: bytes) -> KeyInfo | None:
        if self._redis is None or not self._redis.usable or self._ttl <= 0:
            return None
        try:
            raw = await self._redis.client.get(self._entry_key(key_hash.hex()))
            self._redis.succeeded()
        except REDIS_ERRORS as exc:
            self._redis.failed("key cache get", exc)
            return None
        if raw is None:
            return None
        try:
            return _decode(raw)
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring an undecodable key cache entry in redis")
            return None

    async def _to_redis(self, key_hash: bytes, info: KeyInfo) -> None:
        if self._redis is None or not self._redis.usable or self._ttl <= 0:
            return
        ttl_ms = max(1, int(self._ttl * 1000))
        try:
            async with self._redis.client.pipeline(transaction=True) as pipe:
                pipe.set(self._entry_key(key_hash.hex()), _encode(info), px=ttl_ms)
                # key id → hash, so a revocation (which knows only the id) can delete the entry
                pipe.set(self._kid_key(info.id), key_hash.hex(), px=ttl_ms)
                await pipe.execute()
            self._redis.succeeded()
        except REDIS_ERRORS as exc:
            self._redis.failed("key cache set", exc)
