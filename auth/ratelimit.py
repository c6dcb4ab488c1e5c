"""Per-key rate limits: a token bucket counted in spans, in-process or shared through Redis.

`acquire(key, cost)` takes `cost` tokens (the spans of a request) or says how long to wait.
The bucket holds `capacity` tokens and refills at `spans_per_second`. A request costing more
than the whole bucket passes when the bucket is full and leaves a debt (the average rate holds;
a big batch is never refused forever). Over the limit the receiver answers 429 + Retry-After /
RESOURCE_EXHAUSTED, which OTLP clients retry.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import resources

from prela.auth.config import RateLimitConfig
from prela.auth.redis_link import REDIS_ERRORS, RedisLink

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_s: float = 0.0

    def retry_after_header(self) -> str:
        """The `Retry-After` value: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.retry_after_s)))


ALLOWED = RateDecision(True, 0.0)


class RateLimiter(ABC):
    @abstractmethod
    async def acquire(self, key: str, cost: int = 1) -> RateDecision:
        """Take `cost` tokens from `key`'s bucket (a key id, or `project:<id>`)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the limiter holds."""


class InProcessRateLimiter(RateLimiter):
    """Buckets in a dict of this process; also the fallback of `RedisRateLimiter`."""

    def __init__(self, config: RateLimitConfig, max_buckets: int = 100_000) -> None:
        self._rate = config.spans_per_second
        self._capacity = float(config.capacity)
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, at)
        self._max = max_buckets

    async def acquire(self, key: str, cost: int = 1) -> RateDecision:
        return self.acquire_now(key, cost, time.monotonic())

    def acquire_now(self, key: str, cost: int, now: float) -> RateDecision:
        if self._rate <= 0 or cost <= 0:
            return ALLOWED
        tokens, at = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + max(0.0, now - at) * self._rate)
        need = min(float(cost), self._capacity)
        if tokens >= need:
            self._buckets[key] = (tokens - cost, now)
            if len(self._buckets) > self._max:
                self._prune(now)
            return ALLOWED
        self._buckets[key] = (tokens, now)
        return RateDecision(False, (need - tokens) / self._rate)

    def _prune(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: forget those first.
        full_after = self._capacity / self._rate
        for key in [k for k, (_, at) in self._buckets.items() if now - at >= full_after]:
            del self._buckets[key]
        while len(self._buckets) > self._max:
            del self._buckets[next(iter(self._buckets))]


class RedisRateLimiter(RateLimiter):
    """One bucket per key shared by every instance (an atomic Lua script on Redis time).

    While Redis is unreachable each instance limits alone with an in-process bucket (logged).
    """

    def __init__(self, config: RateLimitConfig, redis: RedisLink, prefix: str = "prela:auth:") -> None:
        self._config = config
        self._redis = redis
        self._prefix = f"{prefix}rate:"
        self._script = redis.client.register_script(
            (resources.files("prela.auth") / "token_bucket.lua").read_text()
        )
        self._fallback = InProcessRateLimiter(config)

    async def acquire(self, key: str, cost: int = 1) -> RateDecision:
        if not self._config.enabled or cost <= 0:
            return ALLOWED
        if not self._redis.usable:
            return await self._fallback.acquire(key, cost)
        try:
            allowed, retry_after = await self._script(
                keys=[self._prefix + key],
                args=[repr(float(self._config.spans_per_second)), self._config.capacity, int(cost)],
            )
            self._redis.succeeded()
        except REDIS_ERRORS as exc:
            self._redis.failed("rate limit", exc)
            return await self._fallback.acquire(key, cost)
        if int(allowed) == 1:
            return ALLOWED
        text = retry_after.decode() if isinstance(retry_after, bytes) else str(retry_after)
        return RateDecision(False, float(text))


def build_rate_limiter(
    config: RateLimitConfig, redis: RedisLink | None = None, prefix: str = "prela:auth:"
) -> RateLimiter:
    """Shared through Redis when a link is given, else in-process (`spans_per_second = 0`: always allowed)."""
    if redis is not None and config.enabled:
        return RedisRateLimiter(config, redis, prefix)
    return InProcessRateLimiter(config)
