"""Nanosecond timestamps: the one parser every ingest path and the query API use, its bounds, and
the RFC 3339 text the query API returns.

The bounds are what the store can hold: `DateTime64(9)` is a signed 64-bit count of nanoseconds,
so it ends at 2262-04-11T23:47:16.854775807Z; nothing before the Unix epoch is taken either.
A time outside them is refused when it arrives (HTTP 400 / partial success), never accepted and
then dropped by the writer.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from decimal import Decimal, localcontext

MIN_TIME_NS = 0  # 1970-01-01T00:00:00Z
MAX_TIME_NS = 2**63 - 1  # 2262-04-11T23:47:16.854775807Z, the last instant DateTime64(9) holds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_RANGE = "from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z"


def format_unix_nano(ns: int) -> str:
    """`1737972000123000000` → `2025-01-27T10:00:00.123Z` (UTC, fraction trimmed, none when whole)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def parse_timestamp(value: object) -> int:
    """Unix nanoseconds from RFC 3339 / ISO 8601 text or an epoch number (a JSON number or its text).

    Numbers are read by magnitude: below 1e11 seconds (until year 5138), below 1e14 milliseconds,
    below 1e17 microseconds, else nanoseconds. Naive text is taken as UTC. Digits finer than a
    nanosecond are dropped (truncated, never rounded up past the bound). Raises ValueError naming
    the value when it is not a timestamp or lies outside [MIN_TIME_NS, MAX_TIME_NS].
    """
    if value.__class__ is int:
        ns = _epoch_to_ns(Decimal(value))  # type: ignore[arg-type]
    elif value.__class__ is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a timestamp")
        ns = _epoch_to_ns(Decimal(repr(value)))  # the decimal the sender wrote, not the binary float
    elif value.__class__ is str and value.strip():
        text = value.strip()  # type: ignore[attr-defined]
        ns = _epoch_to_ns(Decimal(text)) if _DECIMAL.fullmatch(text) else _iso_to_ns(text)
    else:
        raise ValueError(f"{value!r} is not an ISO-8601 timestamp")
    if not MIN_TIME_NS <= ns <= MAX_TIME_NS:
        raise ValueError(f"{value!r} is out of range: a timestamp must be {_RANGE}")
    return ns


def _epoch_to_ns(number: Decimal) -> int:
    magnitude = abs(number)
    scale = (
        1_000_000_000
        if magnitude < Decimal("1e11")
        else 1_000_000
        if magnitude < Decimal("1e14")
        else 1_000
        if magnitude < Decimal("1e17")
        else 1
    )
    with localcontext(prec=60):  # exact for every in-range value (the default 28 digits round)
        return int(number * scale)


def _iso_to_ns(text: str) -> int:
    # datetime keeps microseconds: carry the nanosecond digits of the fraction ourselves.
    head, nanos = text, 0
    dot = text.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(text) and text[end] in "0123456789":
            end += 1
        digits = text[dot + 1 : end]
        if not digits:
            raise ValueError(f"{text!r} is not an ISO-8601 timestamp")
        nanos = int(digits[:9].ljust(9, "0"))
        head = text[:dot] + text[end:]
    try:
        parsed = datetime.fromisoformat(head.replace("z", "Z"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        delta = parsed - _EPOCH
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not an ISO-8601 timestamp") from None
    seconds = delta.days * 86_400 + delta.seconds
    return seconds * 1_000_000_000 + delta.microseconds * 1_000 + nanos
