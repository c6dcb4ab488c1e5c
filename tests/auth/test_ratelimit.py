"""Token bucket per key: in-process and through Redis, same behaviour."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from prela.auth.config import RateLimitConfig
from prela.auth.ratelimit import InProcessRateLimiter, RateLimiter, RedisRateLimiter, build_rate_limiter
from prela.auth.redis_link import RedisLink, connect_redis

from .conftest import REDIS_URL


def test_burst_then_refuse_with_retry_after_then_refill() -> None:
    limiter = InProcessRateLimiter(RateLimitConfig(spans_per_second=10, burst=20))
    assert limiter.acquire_now("k", 15, 0.0).allowed
    assert limiter.acquire_now("k", 5, 0.0).allowed
    refused = limiter.acquire_now("k", 5, 0.0)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(0.5)
    assert refused.retry_after_header() == "1"
    assert limiter.acquire_now("k", 5, 0.5).allowed  # 5 tokens refilled in 0.5 s
    assert limiter.acquire_now("other", 20, 0.5).allowed  # buckets are per key


def test_a_batch_larger_than_the_bucket_passes_when_full_and_leaves_a_debt() -> None:
    limiter = InProcessRateLimiter(RateLimitConfig(spans_per_second=10, burst=20))
    assert limiter.acquire_now("k", 50, 0.0).allowed
    refused = limiter.acquire_now("k", 1, 0.0)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(3.1)


def test_zero_rate_is_unlimited() -> None:
    limiter = InProcessRateLimiter(RateLimitConfig(spans_per_second=0))
    assert all(limiter.acquire_now("k", 10**6, 0.0).allowed for _ in range(10))


@pytest.fixture
async def redis_limiter(redis_prefix: str) -> AsyncIterator[RateLimiter]:
    link = RedisLink(connect_redis(REDIS_URL))
    limiter = build_rate_limiter(RateLimitConfig(spans_per_second=20, burst=10), link, redis_prefix)
    assert isinstance(limiter, RedisRateLimiter)
    yield limiter
    await link.client.aclose()


@pytest.mark.integration
async def test_redis_bucket_bursts_refuses_and_refills(redis_limiter: RateLimiter) -> None:
    assert (await redis_limiter.acquire("key_1", 10)).allowed
    refused = await redis_limiter.acquire("key_1", 4)
    assert not refused.allowed and 0.1 < refused.retry_after_s <= 0.2
    assert (await redis_limiter.acquire("key_2", 10)).allowed
    await asyncio.sleep(refused.retry_after_s + 0.05)
    assert (await redis_limiter.acquire("key_1", 4)).allowed


@pytest.mark.integration
async def test_redis_bucket_is_shared_by_two_instances(redis_prefix: str) -> None:
    links = [RedisLink(connect_redis(REDIS_URL)) for _ in range(2)]
    config = RateLimitConfig(spans_per_second=1, burst=10)
    one, two = (RedisRateLimiter(config, link, redis_prefix) for link in links)
    try:
        assert (await one.acquire("key_s", 6)).allowed
        assert not (await two.acquire("key_s", 6)).allowed
        assert (await two.acquire("key_s", 4)).allowed
    finally:
        for link in links:
            await link.client.aclose()


async def test_redis_outage_falls_back_to_in_process(caplog: pytest.LogCaptureFixture) -> None:
    link = RedisLink(connect_redis("redis://127.0.0.1:1/0", timeout_s=0.2))
    limiter = RedisRateLimiter(RateLimitConfig(spans_per_second=1, burst=5), link, "unused:")
    with caplog.at_level(logging.WARNING):
        assert (await limiter.acquire("k", 5)).allowed
    assert "redis unavailable" in caplog.text
    assert not (await limiter.acquire("k", 5)).allowed  # the in-process bucket took over
    await link.client.aclose()
