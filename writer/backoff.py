"""The one back-off of the write side: how long to wait before the next attempt at a store or broker
that failed (the batch writer, the Kafka writer, connecting to ClickHouse)."""

from __future__ import annotations


class Backoff:
    """Delays that double from `first_s` up to `max_s` (a `max_s` below `first_s` caps it too);
    `reset` after a success."""

    def __init__(self, first_s: float, max_s: float) -> None:
        if first_s <= 0 or max_s <= 0:
            raise ValueError(f"back-off delays must be > 0, got first_s={first_s} max_s={max_s}")
        first_s = min(first_s, max_s)
        self._first = first_s
        self._max = max_s
        self._next = first_s

    def next(self) -> float:
        """The delay to wait now; the one after it is twice as long (at most `max_s`)."""
        delay = self._next
        self._next = min(delay * 2, self._max)
        return delay

    def reset(self) -> None:
        self._next = self._first
