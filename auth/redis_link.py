"""The Redis connection shared by the key cache and the rate limiter, and its outage handling.

Redis is an accelerator here, never a dependency: when it fails, callers fall back to their
in-process state and the store. `RedisLink` logs the outage once, skips Redis for a few
seconds, then tries again.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a Redis call raises when the server is down, slow or confused.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


def connect_redis(url: str, timeout_s: float = 0.5) -> aioredis.Redis:
    """A client for `url` (connects lazily); short timeouts so an outage costs little per request."""
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=30
    )


class RedisLink:
    """A Redis client plus whether to use it right now."""

    def __init__(self, client: aioredis.Redis, retry_after_s: float = 5.0, name: str = "redis") -> None:
        self.client = client
        self._retry_after = retry_after_s
        self._name = name
        self._down_until = 0.0
        self._down = False

    @property
    def usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, operation: str, exc: BaseException) -> None:
        """Record a failure: logged once per outage, Redis skipped for `retry_after_s`."""
        self._down_until = time.monotonic() + self._retry_after
        if not self._down:
            self._down = True
            logger.warning(
                "redis unavailable, using the in-process fallback user=%s operation=%s error=%r",
                self._name,
                operation,
                str(exc)[:200] or type(exc).__name__,
            )

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            logger.info("redis available again user=%s", self._name)
