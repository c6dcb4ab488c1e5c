"""`AuthRuntime`: the store, the Redis link, both authenticators and the rate limiter built from one
`AuthConfig` — what a server process opens at start and closes at shutdown."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from prela.auth.config import AuthConfig
from prela.auth.ingest import IngestAuthenticator
from prela.auth.query import QueryAuthenticator
from prela.auth.ratelimit import RateLimiter, build_rate_limiter
from prela.auth.redis_link import RedisLink, connect_redis
from prela.auth.store import ProjectStore, open_store

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class AuthRuntime:
    config: AuthConfig
    store: ProjectStore
    ingest: IngestAuthenticator
    query: QueryAuthenticator
    rate_limiter: RateLimiter
    redis: RedisLink | None

    @classmethod
    async def start(cls, config: AuthConfig, data_dir: Path) -> AuthRuntime:
        """Open the store (migrations applied) and build the rest; `close()` at shutdown."""
        store = await open_store(config.database_url, data_dir, config.last_used_flush_s)
        redis = RedisLink(connect_redis(config.redis_url)) if config.redis_url else None
        ingest = IngestAuthenticator(
            store,
            mode=config.mode,
            default_project=config.default_project,
            cache_ttl_s=config.key_cache_ttl_s,
            negative_ttl_s=config.negative_cache_ttl_s,
            redis=redis,
            redis_prefix=config.redis_prefix,
        )
        query = QueryAuthenticator(
            config.jwt, ingest, mode=config.mode, default_project=config.default_project
        )
        runtime = cls(
            config,
            store,
            ingest,
            query,
            build_rate_limiter(config.rate_limit, redis, config.redis_prefix),
            redis,
        )
        logger.info("auth ready %s", runtime.describe())
        return runtime

    def describe(self) -> str:
        """One key=value line for the start-up log (no secrets)."""
        c = self.config
        if c.mode == "off":
            return f"mode=off project={c.default_project} (every span and query belongs to this project)"
        rate = (
            f"{c.rate_limit.spans_per_second:g}/s burst={c.rate_limit.capacity}"
            if c.rate_limit.enabled
            else "off"
        )
        return (
            f"mode=required store={self.store.backend} redis={'on' if self.redis else 'off'} "
            f"jwt={c.jwt.modes if c.jwt else 'off'} key_cache_ttl_s={c.key_cache_ttl_s:g} rate_limit={rate}"
        )

    async def close(self) -> None:
        """Flush `last_used`, close the store and Redis."""
        await self.rate_limiter.close()
        await self.store.close()
        if self.redis is not None:
            await self.redis.client.aclose()
