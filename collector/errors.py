"""Errors the receivers turn into client answers (HTTP 4xx / gRPC status)."""

from __future__ import annotations


class InvalidPayload(ValueError):
    """The request body cannot be decoded or violates the protocol: HTTP 400 / INVALID_ARGUMENT."""


class PayloadTooLarge(ValueError):
    """The body (compressed or decompressed) exceeds the configured limit: HTTP 413 / RESOURCE_EXHAUSTED."""


class UnsupportedMediaType(ValueError):
    """A content type or content encoding the receiver does not speak: HTTP 415."""
