"""The oldest ClickHouse server Prela's schema and queries run on, checked once at start.

The minimum is the newest of the versions the features below need: the `text`
full-text index of migration 0004 (and `hasAllTokens`, which searches it) is
generally available (no experimental setting, stable on-disk format) from 26.2;
everything else the SQL in `exporters/sql/` and `query/sql/` uses is much older.
The embedded engine (chDB 4.4) is ClickHouse 26.9, which the test suite runs against.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

# (feature the SQL uses, first ClickHouse version that has it as Prela uses it)
SCHEMA_FEATURES: tuple[tuple[str, tuple[int, int]], ...] = (
    (
        "`TYPE text` full-text index searched with `hasAllTokens`, generally available (no experimental setting)",
        (26, 2),
    ),
    ("`insert_deduplication_token` with `non_replicated_deduplication_window` (idempotent retries)", (22, 2)),
    ("AggregatingMergeTree with SimpleAggregateFunction(groupUniqArrayArray, …)", (21, 1)),
    ("materialized views writing `TO` a table", (20, 1)),
    ("DateTime64(9) with Delta/T64/Gorilla/ZSTD codecs", (20, 1)),
    ("`ttl_only_drop_parts`, `MODIFY TTL … SETTINGS materialize_ttl_after_modify`", (20, 1)),
    ("`bloom_filter` / `minmax` skip indexes, ReplacingMergeTree(version)", (20, 1)),
    ("Decimal(18, 12) columns, quantilesTDigest aggregate states", (20, 1)),
)
MIN_CLICKHOUSE_VERSION: tuple[int, int] = max(since for _, since in SCHEMA_FEATURES)

_VERSION = re.compile(r"^\s*(\d+)\.(\d+)")


class ClickHouseVersionError(RuntimeError):
    """The server is older than MIN_CLICKHOUSE_VERSION (or did not say which version it is)."""


class _Commands(Protocol):
    def command(self, cmd: str) -> Any: ...


def format_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def parse_version(text: str) -> tuple[int, int]:
    """(major, minor) of a `SELECT version()` answer such as `26.9.2.1` or `25.10.1.3832`."""
    match = _VERSION.match(text)
    if match is None:
        raise ClickHouseVersionError(f"cannot read the ClickHouse server version from {text!r}")
    return int(match.group(1)), int(match.group(2))


def check_server_version(client: _Commands) -> str:
    """Ask the server its version; the version text when it is new enough, else ClickHouseVersionError."""
    found = str(client.command("SELECT version()")).strip()
    version = parse_version(found)
    if version < MIN_CLICKHOUSE_VERSION:
        missing = "; ".join(
            f"{name} ({format_version(since)})" for name, since in SCHEMA_FEATURES if since > version
        )
        raise ClickHouseVersionError(
            f"ClickHouse server {found} is too old: Prela needs ClickHouse "
            f"{format_version(MIN_CLICKHOUSE_VERSION)} or newer for {missing}"
        )
    return found
