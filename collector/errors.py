"""Errors the receivers turn into client answers (HTTP 4xx / gRPC status)."""

from __future__ import annotations


class InvalidPayload(ValueError):
    """The request body cannot be decoded or violates the protocol: HTTP 400 / INVALID_ARGUMENT."""


class PayloadTooLarge(ValueError):
    """The body (compressed or decompressed) exceeds the configured limit: HTTP 413 / RESOURCE_EXHAUSTED."""


class UnsupportedMediaType(ValueError):
    """A content type or content encoding the receiver does not speak: HTTP 415."""


class RateLimited(Exception):
    """The key is over its rate: HTTP 429 with Retry-After / gRPC UNAVAILABLE (retryable)."""

    def __init__(self, retry_after: str) -> None:
        super().__init__(f"rate limit exceeded, retry after {retry_after} s")
        self.retry_after = retry_after
