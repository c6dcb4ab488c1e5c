"""RFC 3339 text for nanosecond timestamps, as the query API returns them."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def format_unix_nano(ns: int) -> str:
    """`1737972000123000000` → `2025-01-27T10:00:00.123Z` (UTC, fraction trimmed, none when whole)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def parse_timestamp(value: object) -> int:
    """Unix nanoseconds from RFC 3339 / ISO 8601 text or an epoch number.

    Numbers are read by magnitude: below 1e11 seconds, below 1e14 milliseconds,
    below 1e17 microseconds, else nanoseconds. Naive text is taken as UTC.
    Raises ValueError naming the value.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a timestamp")
    if isinstance(value, int | float):
        return _epoch_to_ns(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not an ISO-8601 timestamp")
    text = value.strip()
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return _epoch_to_ns(float(text) if "." in text else int(text))
    return _iso_to_ns(text)


def _epoch_to_ns(number: float) -> int:
    magnitude = abs(number)
    scale = (
        1_000_000_000
        if magnitude < 1e11
        else 1_000_000
        if magnitude < 1e14
        else 1_000
        if magnitude < 1e17
        else 1
    )
    ns = int(number * scale) if isinstance(number, float) else number * scale
    if not 0 <= ns < 2**63:
        raise ValueError(f"{number!r} is out of range for a timestamp")
    return ns


def _iso_to_ns(text: str) -> int:
    # datetime keeps microseconds: carry the nanosecond digits of the fraction ourselves.
    head, nanos = text, 0
    dot = text.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        digits = text[dot + 1 : end]
        if not digits:
            raise ValueError(f"{text!r} is not an ISO-8601 timestamp")
        nanos = int(digits[:9].ljust(9, "0"))
        head = text[:dot] + text[end:]
    try:
        parsed = datetime.fromisoformat(head.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    ns = int(parsed.timestamp()) * 1_000_000_000 + nanos
    if not 0 <= ns < 2**63:
        raise ValueError(f"{text!r} is out of range for a timestamp")
    return ns
