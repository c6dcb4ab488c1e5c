"""`TraceStore`: the ClickHouse reads behind the query API, always scoped to one project.

Each question has a table shaped for it (exporters/sql/migrations/0005_read_side.sql): trace lists
read a few hours of the time-ordered `trace_index` and then the exact `trace_rollups` of the page by
primary key; span lists read the time-ordered `span_index`; stats read minute/hour rollups; sessions
and users their own aggregates; a trace's detail reads `spans` by primary key. No read groups a
project's whole history.

SQL lives in `sql/*.sql`; values are bound as server-side parameters, never formatted into the text
(only fixed clauses chosen here are). Calls block (chDB or HTTP); the app runs them in a worker thread.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from string import Template
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from prela.exporters.clickhouse import SEARCH_TEXT_SQL
from prela.model.timestamps import format_unix_nano
from prela.query.content import CONTENT_EVENTS, join_content, trace_log

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS
# Traces lasting up to this long are read whole by a trace-list window (one hour each side).
WINDOW_MARGIN_NS = HOUR_NS
# A ranking (sort other than newest) covers [since, until): by default the day before `until`.
DEFAULT_RANK_RANGE_NS = DAY_NS
MAX_SESSION_TRACES = 1000
# A search whose words occur in at most this many spans reads its whole time range in one window.
RARE_SEARCH_SPANS = 50_000
MAX_STAT_BUCKETS = 5000
MAX_STAT_USERS = 20  # group_by=user draws the users with the most spans in the range
_TOP_USERS = Template(
    "AND user_id IN (SELECT user_id FROM ${database}.user_stats_1h WHERE project_id = {project_id:String} "
    "AND bucket >= {since:DateTime} AND bucket < {until:DateTime} "
    f"GROUP BY user_id ORDER BY sum(spans) DESC, user_id LIMIT {MAX_STAT_USERS})"
)
MAX_LOGS = 10_000  # log records returned with (and joined into) one trace detail or page
_MAX_HOUR_NS = 4_000_000_000 * 1_000_000_000  # ClickHouse DateTime ends in 2106


def _sql(name: str) -> Template:
    return Template((resources.files("prela.query") / "sql" / name).read_text())


_SQL = {
    name: _sql(f"{name}.sql")
    for name in (
        "trace_window",
        "trace_hour_bounds",
        "trace_rollups",
        "trace_spans",
        "span_list",
        "span_latest",
        "span_content",
        "text_match",
        "text_count",
        "stats",
        "session_list",
        "session_page",
        "session_traces",
        "session_llm_spans",
        "trace_logs",
        "traces_content_logs",
        "user_list",
        "user_page",
    )
}


class InvalidCursor(ValueError):
    pass


@dataclass(slots=True, frozen=True)
class TraceFilter:
    """Filters shared by the trace list, the span list and (a subset) the stats."""

    service: str | None = None
    span_type: str | None = None
    model: str | None = None  # the response or the requested model
    provider: str | None = None
    status: str | None = None  # SUCCESS | ERROR
    since_ns: int | None = None
    until_ns: int | None = None
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    min_cost_usd: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    environment: str | None = None
    q: str | None = None


# --- full-text queries --------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+")  # the index's tokenizer splits on everything but letters and digits


@dataclass(slots=True, frozen=True)
class TextQuery:
    tokens: tuple[str, ...]
    phrases: tuple[str, ...]


def parse_text_query(q: str) -> TextQuery:
    """Words and "quoted phrases", case-insensitive; every one must occur (AND)."""
    phrases = tuple(p.lower() for p in re.findall(r'"([^"]*)"', q) if _TOKEN.search(p))
    tokens = tuple(dict.fromkeys(t.lower() for t in _TOKEN.findall(q)))
    return TextQuery(tokens, tuple(p for p in phrases if " " in p.strip() or not _TOKEN.fullmatch(p)))


# The time range a text match reads: a trace-list window (hours) or a span-list range (ns).
_TRACE_WINDOW_TIMES = (
    "AND started_at >= {read_from:DateTime} AND started_at < {read_to:DateTime} + INTERVAL 1 HOUR"
)
_SPAN_RANGE_TIMES = (
    "AND started_at >= fromUnixTimestamp64Nano({started_from:Int64}) "
    "AND started_at < fromUnixTimestamp64Nano({started_to:Int64})"
)


def _text_match_sql(database: str, text: TextQuery, params: dict[str, Any], time_range: str) -> str:
    params["q_tokens"] = list(text.tokens)
    phrases = []
    for i, phrase in enumerate(text.phrases):
        params[f"q_phrase_{i}"] = phrase
        phrases.append(f"AND position({SEARCH_TEXT_SQL}, {{q_phrase_{i}:String}}) > 0")
    return _SQL["text_match"].substitute(
        database=database, search_text=SEARCH_TEXT_SQL, phrases=" ".join(phrases), time_range=time_range
    )


# --- cursors ------------------------------------------------------------------------------------


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[type]) -> list[Any]:
    """The key a previous page ended at; its parts must have the given types (else InvalidCursor)."""
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if (
            isinstance(key, list)
            and len(key) == len(kinds)
            and all(isinstance(v, k) and not isinstance(v, bool) for v, k in zip(key, kinds, strict=True))
        ):
            return key
    except (ValueError, TypeError):
        pass
    raise InvalidCursor(f"cursor {cursor!r} is not one this API returned for this sort")


# --- trace filters as SQL -------------------------------------------------------------------------

# Set filters: "the trace has a span with ..." — applied in WHERE to the index rows of the window
# (through the trace ids that match), so aggregation only sees matching traces.
_TRACE_SET_FILTERS = {
    "service": "has(services, {service:String})",
    "span_type": "has(span_types, {span_type:String})",
    "model": "has(models, {model:String})",
    "provider": "has(providers, {provider:String})",
    "session_id": "has(session_ids, {session_id:String})",
    "user_id": "has(user_ids, {user_id:String})",
    "environment": "has(environments, {environment:String})",
}
# Checks on a trace's aggregates, after the window's rows are merged (and again on the exact roll-ups).
_TRACE_AGGREGATE_FILTERS = {
    "status": "has_error_seen = {has_error:UInt8}",
    "min_duration_ms": "duration_ns >= {min_duration_ns:Int64}",
    "max_duration_ms": "duration_ns <= {max_duration_ns:Int64}",
    "min_cost_usd": "cost_seen >= {min_cost_usd:Decimal(38, 12)}",
}
TRACE_SORTS = {
    "newest": "started_ns",
    "duration": "duration_ns",
    "cost": "cost_seen",
    "tokens": "tokens_seen",
}
SPAN_SORTS = {"newest": "started_at", "duration": "duration_ns"}


def _bind_filters(flt: TraceFilter, params: dict[str, Any]) -> None:
    for name in _TRACE_SET_FILTERS:
        value = getattr(flt, name)
        if value is not None:
            params[name] = value
    if flt.status is not None:
        params["has_error"] = 1 if flt.status == "ERROR" else 0
    if flt.min_duration_ms is not None:
        params["min_duration_ns"] = int(flt.min_duration_ms * 1_000_000)
    if flt.max_duration_ms is not None:
        params["max_duration_ns"] = int(flt.max_duration_ms * 1_000_000)
    if flt.min_cost_usd is not None:
        params["min_cost_usd"] = Decimal(str(flt.min_cost_usd))


def _active(flt: TraceFilter, names: Iterable[str]) -> list[str]:
    return [n for n in names if getattr(flt, n) is not None]


def _seconds(ns: int) -> datetime:
    return datetime.fromtimestamp(max(0, ns) // 1_000_000_000, tz=UTC)


def _hour_floor(ns: int) -> int:
    return ns - ns % HOUR_NS


def _number(value: Any) -> Any:
    """Decimals (cost) as JSON numbers: the shortest float that reads back as the same value."""
    return float(value) if isinstance(value, Decimal) else value


class TraceStore:
    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._database = database

    @property
    def client(self) -> Client:
        return self._client

    @property
    def database(self) -> str:
        return self._database

    def _query(self, name: str, params: dict[str, Any], **slots: str) -> list[dict[str, Any]]:
        sql = _SQL[name].substitute(database=self._database, **slots)
        return list(self._client.query(sql, parameters=params).named_results())

    # --- traces -------------------------------------------------------------------------------

    def list_traces(
        self, project_id: str, flt: TraceFilter, limit: int, cursor: str | None, sort: str = "newest"
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of traces and the cursor of the next page (None at the end).

        `newest` walks back through the trace index a window of hours at a time (1, 4, 16 … hours)
        until the page is full; other sorts rank the traces of [since, until).
        """
        params: dict[str, Any] = {"project_id": project_id}
        _bind_filters(flt, params)
        where = self._trace_where(project_id, flt, params)
        having = " ".join(
            f"AND {_TRACE_AGGREGATE_FILTERS[n]}" for n in _active(flt, _TRACE_AGGREGATE_FILTERS)
        )
        if sort == "newest":
            wide = self._rare_search(project_id, flt)
            rows = self._newest_traces(params, flt, where, having, limit + 1, cursor, wide)
        else:
            rows = self._ranked_traces(params, flt, where, having, limit + 1, cursor, sort)
        more = len(rows) > limit
        rows = rows[:limit]
        summaries = self._exact_summaries(project_id, rows, flt)
        next_cursor = (
            encode_cursor(_cursor_value(rows[-1]["sort_key"]), rows[-1]["trace_id"]) if more else None
        )
        return summaries, next_cursor

    def _trace_where(self, project_id: str, flt: TraceFilter, params: dict[str, Any]) -> str:
        where = ""
        for name in _active(flt, _TRACE_SET_FILTERS):  # each may hold on another span (and hour) of the trace
            where += (
                f" AND trace_id IN (SELECT trace_id FROM {self._database}.trace_index "
                "WHERE project_id = {project_id:String} AND hour >= {read_from:DateTime} "
                f"AND hour <= {{read_to:DateTime}} AND {_TRACE_SET_FILTERS[name]})"
            )
        if flt.q:
            text = parse_text_query(flt.q)
            if not text.tokens:
                where += " AND 0"
            else:
                match = _text_match_sql(self._database, text, params, _TRACE_WINDOW_TIMES)
                where += f" AND trace_id IN (SELECT trace_id FROM ({match}))"
        return where

    def _rare_search(self, project_id: str, flt: TraceFilter) -> bool:
        """True when `q` matches few spans: one read of the whole range beats a walk of windows
        that each consult the full-text index again."""
        if not flt.q:
            return False
        text = parse_text_query(flt.q)
        if not text.tokens:
            return False
        found = self._query(
            "text_count",
            {"project_id": project_id, "q_tokens": list(text.tokens)},
            search_text=SEARCH_TEXT_SQL,
        )
        return bool(found) and found[0]["matches"] <= RARE_SEARCH_SPANS

    def _latest_hour(self, params: dict[str, Any], at_or_before_ns: int, floor_ns: int) -> int | None:
        found = self._query(
            "trace_hour_bounds",
            {**params, "hour": _seconds(at_or_before_ns), "floor": _seconds(max(0, floor_ns))},
        )
        if not found:
            return None
        return int(found[0]["hour"].replace(tzinfo=UTC).timestamp()) * 1_000_000_000

    def _newest_traces(
        self,
        params: dict[str, Any],
        flt: TraceFilter,
        where: str,
        having: str,
        need: int,
        cursor: str | None,
        wide: bool = False,
    ) -> list[dict[str, Any]]:
        since = flt.since_ns or 0
        until = flt.until_ns if flt.until_ns is not None else 2**63 - 1
        if cursor:
            started_ns, trace_id = decode_cursor(cursor, (int, str))
            params["cursor_ns"], params["cursor_id"] = started_ns, trace_id
            having += " AND (started_ns, trace_id) < ({cursor_ns:Int64}, {cursor_id:String})"
            until = min(until, started_ns + 1)
        found: list[dict[str, Any]] = []
        top = self._latest_hour(params, min(until - 1, _MAX_HOUR_NS), since - WINDOW_MARGIN_NS)
        hours = 1 if not wide or top is None else (top - _hour_floor(since)) // HOUR_NS + 1
        while top is not None and len(found) < need:
            low = max(top - (hours - 1) * HOUR_NS, _hour_floor(since))
            window = {
                **params,
                "read_from": _seconds(low - WINDOW_MARGIN_NS),
                "read_to": _seconds(min(top + WINDOW_MARGIN_NS, _MAX_HOUR_NS)),
                "started_from": max(low, since),
                "started_to": until,
                "limit": need - len(found),
            }
            found += self._query("trace_window", window, where=where, having=having, sort_key="started_ns")
            if low <= _hour_floor(since):
                break
            until = min(until, low)
            top = self._latest_hour(params, low - 1, since - WINDOW_MARGIN_NS)
            hours *= 4
        return found

    def _ranked_traces(
        self,
        params: dict[str, Any],
        flt: TraceFilter,
        where: str,
        having: str,
        need: int,
        cursor: str | None,
        sort: str,
    ) -> list[dict[str, Any]]:
        until = flt.until_ns if flt.until_ns is not None else _now_ns()
        since = flt.since_ns if flt.since_ns is not None else until - DEFAULT_RANK_RANGE_NS
        sort_key = TRACE_SORTS[sort]
        if cursor:
            kinds: tuple[type, ...] = (str, str) if sort == "cost" else (int, str)
            value, trace_id = decode_cursor(cursor, kinds)
            params["cursor_value"] = _cost_cursor(value, cursor) if sort == "cost" else value
            params["cursor_id"] = trace_id
            ch_type = "Decimal(38, 12)" if sort == "cost" else "Int64"
            having += f" AND (sort_key, trace_id) < ({{cursor_value:{ch_type}}}, {{cursor_id:String}})"
        window = {
            **params,
            "read_from": _seconds(_hour_floor(since) - WINDOW_MARGIN_NS),
            "read_to": _seconds(min(_hour_floor(until) + WINDOW_MARGIN_NS, _MAX_HOUR_NS)),
            "started_from": since,
            "started_to": until,
            "limit": need,
        }
        return self._query("trace_window", window, where=where, having=having, sort_key=sort_key)

    def _exact_summaries(
        self, project_id: str, rows: list[dict[str, Any]], flt: TraceFilter
    ) -> list[dict[str, Any]]:
        """The page's traces from their exact roll-ups, in the page's order.

        A trace whose true start lies before the window it was found in (it lasted over an hour)
        is left to the page of its start, so no trace is listed twice; aggregate filters are
        checked again on the exact values (a window sees only the hours it reads).
        """
        rollups = self.rollups(project_id, [r["trace_id"] for r in rows])
        out = []
        for row in rows:
            rollup = rollups.get(row["trace_id"])
            if rollup is None or rollup["started_ns"] != row["started_ns"]:
                continue
            summary = _trace_summary(rollup)
            if _passes_aggregates(summary, flt):
                out.append(summary)
        return out

    def rollups(self, project_id: str, trace_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not trace_ids:
            return {}
        rows = self._query("trace_rollups", {"project_id": project_id, "trace_ids": trace_ids})
        return {r["trace_id"]: r for r in rows}

    def get_trace(self, project_id: str, trace_id: str) -> dict[str, Any] | None:
        """The trace in the seed's shape with all its spans, or None when this project has no such trace."""
        rows = self._query("trace_spans", {"project_id": project_id, "trace_id": trace_id})
        if not rows:
            return None
        rows.sort(key=lambda r: (r["started_ns"], r["span_id"]))
        detail = _trace_detail(trace_id, rows)
        # GenAI content sent as log records or span events fills the spans that lack it (content.py).
        logs = self._query(
            "trace_logs", {"project_id": project_id, "trace_id": trace_id}, max_logs=str(MAX_LOGS)
        )
        join_content(detail["spans"], logs)
        detail["logs"] = [trace_log(r) for r in logs]
        return detail

    def _join_logged_content(self, project_id: str, spans: list[dict[str, Any]]) -> None:
        """Fill the empty input/output of spans (of a few traces) from their GenAI log events."""
        if all(s["input"] and s["output"] for s in spans):
            return
        params = {"project_id": project_id, "trace_ids": sorted({s["trace_id"] for s in spans})}
        params["event_names"] = sorted(CONTENT_EVENTS)
        join_content(spans, self._query("traces_content_logs", params, max_logs=str(MAX_LOGS)))

    # --- spans --------------------------------------------------------------------------------

    def list_spans(
        self,
        project_id: str,
        flt: TraceFilter,
        limit: int,
        cursor: str | None,
        sort: str = "newest",
        include_content: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of spans across traces, newest or slowest first (slowest ranks [since, until))."""
        params: dict[str, Any] = {"project_id": project_id, "limit": limit + 1}
        until = flt.until_ns if flt.until_ns is not None else 2**63 - 1
        since = flt.since_ns if flt.since_ns is not None else 0
        if sort == "duration":
            until = flt.until_ns if flt.until_ns is not None else _now_ns()
            since = flt.since_ns if flt.since_ns is not None else until - DEFAULT_RANK_RANGE_NS
        params["started_from"], params["started_to"] = since, until
        where = []
        for name, column in (
            ("service", "service_name"),
            ("span_type", "span_type"),
            ("provider", "provider"),
            ("session_id", "session_id"),
            ("user_id", "user_id"),
            ("environment", "environment"),
        ):
            value = getattr(flt, name)
            if value is not None:
                params[name] = value
                where.append(f"AND {column} = {{{name}:String}}")
        if flt.model is not None:
            params["model"] = flt.model
            where.append("AND (model = {model:String} OR request_model = {model:String})")
        if flt.status is not None:
            params["status"] = flt.status
            where.append("AND status = {status:String}")
        if flt.min_duration_ms is not None:
            params["min_duration_ns"] = int(flt.min_duration_ms * 1_000_000)
            where.append("AND duration_ns >= {min_duration_ns:UInt64}")
        if flt.max_duration_ms is not None:
            params["max_duration_ns"] = int(flt.max_duration_ms * 1_000_000)
            where.append("AND duration_ns <= {max_duration_ns:UInt64}")
        if flt.min_cost_usd is not None:
            params["min_cost_usd"] = Decimal(str(flt.min_cost_usd))
            where.append("AND cost_usd >= {min_cost_usd:Decimal(38, 12)}")
        if flt.q:
            text = parse_text_query(flt.q)
            if not text.tokens:
                return [], None
            match = _text_match_sql(self._database, text, params, _SPAN_RANGE_TIMES)
            where.append(f"AND (trace_id, span_id) IN ({match})")
        sort_key = "toUnixTimestamp64Nano(started_at)" if sort == "newest" else "toInt64(duration_ns)"
        if cursor:
            value, trace_id, span_id = decode_cursor(cursor, (int, str, str))
            params.update(cursor_value=value, cursor_trace=trace_id, cursor_span=span_id)
            if sort == "newest":
                until = min(until, value + 1)
            where.append(
                f"AND ({sort_key}, trace_id, span_id) < "
                "({cursor_value:Int64}, {cursor_trace:String}, {cursor_span:String})"
            )
        clauses = " ".join(where)
        if sort == "newest":
            wide = self._rare_search(project_id, flt)
            rows = self._newest_spans(params, clauses, sort_key, since, until, limit + 1, wide)
        else:
            ranked = {**params, "limit": 2 * (limit + 1)}  # room for a span stored twice
            rows = _distinct_spans(
                self._query("span_list", ranked, where=clauses, sort_key=sort_key), limit + 1
            )
        more = len(rows) > limit
        rows = rows[:limit]
        content = self._span_content(project_id, rows) if include_content and rows else {}
        spans = [_span_row(r, content.get((r["trace_id"], r["span_id"]))) for r in rows]
        next_cursor = (
            encode_cursor(rows[-1]["sort_key"], rows[-1]["trace_id"], rows[-1]["span_id"]) if more else None
        )
        return spans, next_cursor

    def _newest_spans(
        self,
        params: dict[str, Any],
        where: str,
        sort_key: str,
        since: int,
        until: int,
        need: int,
        wide: bool = False,
    ) -> list[dict[str, Any]]:
        """Walk back from `until` a window of hours at a time (1, 4, 16 …) so each read is a bounded
        range of the span index, until the page is full or `since` is reached."""
        found: list[dict[str, Any]] = []
        hours = 1
        while len(found) < need:
            latest = self._query("span_latest", {**params, "before": until, "not_before": since})
            if not latest:
                break
            low = since if wide else max(_hour_floor(latest[0]["started_ns"]) - (hours - 1) * HOUR_NS, since)
            window = {**params, "started_from": low, "started_to": until, "limit": 2 * (need - len(found))}
            found = _distinct_spans(
                found + self._query("span_list", window, where=where, sort_key=sort_key), need
            )
            if low <= since:
                break
            until, hours = low, hours * 4
        return found

    def _span_content(
        self, project_id: str, rows: list[dict[str, Any]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        keys = [(r["trace_id"], r["span_id"]) for r in rows]
        found = self._query("span_content", {"project_id": project_id, "keys": keys})
        self._join_logged_content(project_id, found)
        return {(r["trace_id"], r["span_id"]): r for r in found}

    # --- stats --------------------------------------------------------------------------------

    def stats(
        self,
        project_id: str,
        flt: TraceFilter,
        since_ns: int,
        until_ns: int,
        interval_s: int,
        group_by: str,
    ) -> dict[str, Any]:
        """Per group and time bucket: counts, errors, latency percentiles, tokens and cost (spans by
        the minute or hour they started in), plus totals over the range."""
        table = (
            "user_stats_1h"
            if group_by == "user"
            else "span_stats_1m"
            if interval_s < 3600
            else "span_stats_1h"
        )
        granule = 60 if table == "span_stats_1m" else 3600
        since_s = since_ns // 1_000_000_000 // granule * granule
        until_s = -(-until_ns // 1_000_000_000 // granule) * granule
        params: dict[str, Any] = {
            "project_id": project_id,
            "since": datetime.fromtimestamp(since_s, tz=UTC),
            "until": datetime.fromtimestamp(max(until_s, since_s + granule), tz=UTC),
        }
        where = []
        for name, column in (
            ("service", "service_name"),
            ("span_type", "span_type"),
            ("model", "model"),
            ("provider", "provider"),
            ("status", "status"),
            ("environment", "environment"),
            ("user_id", "user_id"),
        ):
            value = getattr(flt, name)
            if value is not None:
                if name == "user_id" and table != "user_stats_1h":
                    table, granule = "user_stats_1h", 3600
                params[name] = value
                where.append(f"AND {column} = {{{name}:String}}")
        group_column = {
            "none": "''",
            "model": "toString(model)",
            "provider": "toString(provider)",
            "service": "toString(service_name)",
            "span_type": "toString(span_type)",
            "user": "user_id",
        }[group_by]
        interval_s = max(interval_s, granule)
        time_expr = f"toStartOfInterval(bucket, INTERVAL {int(interval_s)} SECOND)"
        slots = {"table": table, "time_expr": time_expr, "group_expr": group_column}
        clauses = " ".join(where)
        if group_by == "user":  # the series of the most active users; the totals cover them all
            top_users = _TOP_USERS.substitute(database=self._database)
            rows = self._query(
                "stats",
                params,
                where=f"{clauses} {top_users}",
                grouping_sets="(t, g)",
                level_expr="0",
                **slots,
            )
            whole = {**slots, "time_expr": "toDateTime(0)", "group_expr": "''"}
            rows += self._query("stats", params, where=clauses, grouping_sets="()", level_expr="3", **whole)
        else:
            rows = self._query(
                "stats",
                params,
                where=clauses,
                grouping_sets="(t, g), ()",
                level_expr="grouping(t, g)",
                **slots,
            )
        series: dict[str, list[dict[str, Any]]] = {}
        totals = None
        for r in rows:
            if r["level"]:
                totals = r
            else:
                series.setdefault(r["g"], []).append({"time": _iso(r["t"]), **_stat_values(r)})
        return {
            "since": format_unix_nano(since_s * 1_000_000_000),
            "until": format_unix_nano(int(params["until"].timestamp()) * 1_000_000_000),
            "interval": _interval_name(interval_s),
            "group_by": group_by,
            "series": [{"group": g, "buckets": b} for g, b in series.items()],
            "totals": _stat_values(totals),
        }

    # --- sessions and users -------------------------------------------------------------------

    def list_sessions(
        self, project_id: str, user_id: str | None, since_ns: int | None, until_ns: int | None,
        limit: int, cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:  # fmt: skip
        params: dict[str, Any] = {"project_id": project_id, "limit": limit + 1}
        where = having = ""
        if user_id is not None:
            params["user_id"] = user_id
            where = "AND has(user_ids, {user_id:String})"
        if since_ns is not None:
            params["since_ns"] = since_ns
            having += " AND last_ns >= {since_ns:Int64}"
        if until_ns is not None:
            params["until_ns"] = until_ns
            having += " AND first_ns < {until_ns:Int64}"
        if cursor:
            params["cursor_ns"], params["cursor_id"] = decode_cursor(cursor, (int, str))
            having += " AND (last_ns, session_id) < ({cursor_ns:Int64}, {cursor_id:String})"
        if where:  # the sessions a user took part in, whole (all their users and totals)
            where = (
                f"AND session_id IN (SELECT session_id FROM {self._database}.sessions "
                f"WHERE project_id = {{project_id:String}} {where})"
            )
        page = self._query("session_page", params, where=where, having=having)
        more = len(page) > limit
        page = page[:limit]
        found = {
            r["session_id"]: r
            for r in self._query(
                "session_list", {"project_id": project_id, "ids": [p["session_id"] for p in page]}
            )
        }
        rows = [found[p["session_id"]] for p in page if p["session_id"] in found]
        sessions = [
            {
                "session_id": r["session_id"],
                "trace_count": r["trace_count"],
                "first_seen": format_unix_nano(r["first_ns"]),
                "last_seen": format_unix_nano(r["last_ns"]),
                **_usage(r),
                "error_count": r["error_count"],
                "users": sorted(r["users"]),
            }
            for r in rows
        ]
        next_cursor = encode_cursor(page[-1]["last_ns"], page[-1]["session_id"]) if more else None
        return sessions, next_cursor

    def get_session(self, project_id: str, session_id: str) -> dict[str, Any] | None:
        """The session's traces in time order, each with its LLM calls' input and output."""
        found = self._query("session_traces", {"project_id": project_id, "session_id": session_id})
        trace_ids = found[0]["trace_ids"] if found else []
        if not trace_ids:
            return None
        rollups = self.rollups(project_id, trace_ids)
        traces = sorted(
            (_trace_summary(r) for r in rollups.values()), key=lambda t: (t["started_at"], t["trace_id"])
        )
        traces = traces[:MAX_SESSION_TRACES]
        llm = self._query(
            "session_llm_spans", {"project_id": project_id, "trace_ids": [t["trace_id"] for t in traces]}
        )
        llm.sort(key=lambda r: (r["started_ns"], r["span_id"]))
        self._join_logged_content(project_id, llm)
        by_trace: dict[str, list[dict[str, Any]]] = {}
        for r in llm:
            by_trace.setdefault(r["trace_id"], []).append(
                {
                    "span_id": r["span_id"],
                    "name": r["name"],
                    "model": r["model"],
                    "started_at": format_unix_nano(r["started_ns"]),
                    "input": r["input"],
                    "output": r["output"],
                }
            )
        for t in traces:
            t["llm_spans"] = by_trace.get(t["trace_id"], [])
        return {"session_id": session_id, "traces": traces}

    def list_users(
        self, project_id: str, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"project_id": project_id, "limit": limit + 1}
        having = ""
        if cursor:
            params["cursor_ns"], params["cursor_id"] = decode_cursor(cursor, (int, str))
            having = "AND (last_ns, user_id) < ({cursor_ns:Int64}, {cursor_id:String})"
        page = self._query("user_page", params, having=having)
        more = len(page) > limit
        page = page[:limit]
        found = {
            r["user_id"]: r
            for r in self._query("user_list", {"project_id": project_id, "ids": [p["user_id"] for p in page]})
        }
        rows = [found[p["user_id"]] for p in page if p["user_id"] in found]
        users = [
            {
                "user_id": r["user_id"],
                "trace_count": r["trace_count"],
                "session_count": r["session_count"],
                **_usage(r),
                "first_seen": format_unix_nano(r["first_ns"]),
                "last_seen": format_unix_nano(r["last_ns"]),
            }
            for r in rows
        ]
        next_cursor = encode_cursor(page[-1]["last_ns"], page[-1]["user_id"]) if more else None
        return users, next_cursor

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except Exception:  # any failure means: not reachable
            return False


# --- rows → API shapes --------------------------------------------------------------------------


def _distinct_spans(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first row of each (trace_id, span_id), in order, at most `limit`."""
    seen: set[tuple[str, str]] = set()
    out = []
    for r in rows:
        key = (r["trace_id"], r["span_id"])
        if key not in seen:
            seen.add(key)
            out.append(r)
            if len(out) == limit:
                break
    return out


def _now_ns() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1e9)


def _cost_cursor(value: str, cursor: str) -> Decimal:
    """A cost a cursor ends at: a finite number that fits the cost column's Decimal(38, 12)."""
    try:
        cost = Decimal(value)
    except ArithmeticError:  # decimal.InvalidOperation: not a number
        cost = Decimal("NaN")
    if not cost.is_finite() or abs(cost) >= 10**26:
        raise InvalidCursor(f"cursor {cursor!r} is not one this API returned for this sort")
    return cost


def _cursor_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _iso(value: datetime) -> str:
    return format_unix_nano(int(value.replace(tzinfo=UTC).timestamp()) * 1_000_000_000)


def _interval_name(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_STAT_FIELDS = ("count", "error_count", "input_tokens", "output_tokens", "total_tokens")


def _stat_values(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None or not row["count"]:
        return {
            **dict.fromkeys(_STAT_FIELDS, 0),
            "p50_ms": None,
            "p90_ms": None,
            "p99_ms": None,
            "cost_usd": 0.0,
        }
    p50, p90, p99 = row["q"]
    return {
        **{f: row[f] for f in _STAT_FIELDS},
        "p50_ms": round(p50, 3),
        "p90_ms": round(p90, 3),
        "p99_ms": round(p99, 3),
        "cost_usd": _number(row["cost_usd"]),
    }


def _usage(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "total_tokens": row["total_tokens"],
        "cost_usd": _number(row["cost_usd"]),
    }


def _passes_aggregates(summary: dict[str, Any], flt: TraceFilter) -> bool:
    if flt.status is not None and summary["status"] != flt.status:
        return False
    if flt.min_duration_ms is not None and summary["duration_ms"] < flt.min_duration_ms:
        return False
    if flt.max_duration_ms is not None and summary["duration_ms"] > flt.max_duration_ms:
        return False
    return flt.min_cost_usd is None or summary["cost_usd"] >= flt.min_cost_usd


def _ms(ns: int) -> float:
    return ns / 1_000_000


def _first(values: Sequence[str]) -> str:
    return sorted(values)[0] if values else ""


def _trace_summary(r: dict[str, Any]) -> dict[str, Any]:
    service, root_name = r["root"]
    return {
        "trace_id": r["trace_id"],
        "service_name": service,
        "root_span_name": root_name,
        "started_at": format_unix_nano(r["started_ns"]),
        "completed_at": format_unix_nano(r["ended_ns"]),
        "duration_ms": _ms(max(0, r["ended_ns"] - r["started_ns"])),
        "status": "ERROR" if r["error_count"] else "SUCCESS",
        "span_count": r["span_count"],
        "error_count": r["error_count"],
        **_usage(r),
        "services": sorted(r["services"]),
        "span_types": sorted(r["span_types"]),
        "models": sorted(r["models"]),
        "providers": sorted(r["providers"]),
        "session_id": _first(r["session_ids"]),
        "user_id": _first(r["user_ids"]),
        "environment": _first(r["environments"]),
    }


def _root(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ids = {r["span_id"] for r in rows}
    for r in rows:  # rows are ordered by start: the first without a known parent is the root
        if not r["parent_span_id"] or r["parent_span_id"] not in ids:
            return r
    return rows[0]


def _trace_detail(trace_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    root = _root(rows)
    started = min(r["started_ns"] for r in rows)
    ended = max(r["ended_ns"] for r in rows)
    errors = sum(1 for r in rows if r["status"] == "ERROR")
    return {
        "trace_id": trace_id,
        "service_name": root["service_name"],
        "root_span_name": root["name"],
        "started_at": format_unix_nano(started),
        "completed_at": format_unix_nano(ended),
        "duration_ms": _ms(max(0, ended - started)),
        "status": "ERROR" if errors else "SUCCESS",
        "span_count": len(rows),
        "error_count": errors,
        "input_tokens": sum(r["input_tokens"] for r in rows),
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "total_tokens": sum(r["total_tokens"] for r in rows),
        "cost_usd": _number(sum((r["cost_usd"] for r in rows), Decimal(0))),
        "session_id": _first([r["session_id"] for r in rows if r["session_id"]]),
        "user_id": _first([r["user_id"] for r in rows if r["user_id"]]),
        "environment": _first([r["environment"] for r in rows if r["environment"]]),
        "spans": [_span(trace_id, r) for r in rows],
    }


_SPAN_ROW_FIELDS = (
    "span_id", "name", "span_type", "kind", "service_name", "status", "status_message", "model",
    "request_model", "provider", "input_tokens", "output_tokens", "total_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "session_id", "user_id", "environment",
)  # fmt: skip


def _span_row(r: dict[str, Any], content: dict[str, Any] | None) -> dict[str, Any]:
    row = {
        "trace_id": r["trace_id"],
        "parent_span_id": r["parent_span_id"] or None,
        "started_at": format_unix_nano(r["started_ns"]),
        "ended_at": format_unix_nano(r["ended_ns"]),
        "duration_ms": _ms(r["duration_ns"]),
        "cost_usd": _number(r["cost_usd"]),
        **{f: r[f] for f in _SPAN_ROW_FIELDS},
    }
    if content is not None:
        row["input"], row["output"] = content["input"], content["output"]
    return row


def _span(trace_id: str, r: dict[str, Any]) -> dict[str, Any]:
    return {
        **_span_row({**r, "trace_id": trace_id}, r),
        # Stored JSON objects are passed through as they are (the response is written by orjson).
        "attributes": orjson.Fragment(r["attributes"] or "{}"),
        "resource_attributes": orjson.Fragment(r["resource_attributes"] or "{}"),
        "scope": {
            "name": r["scope_name"],
            "version": r["scope_version"],
            "attributes": orjson.Fragment(r["scope_attributes"] or "{}"),
        },
        "trace_state": r["trace_state"],
        "events": [_event(e) for e in orjson.loads(r["events"] or "[]")] if r["events"] != "[]" else [],
        "links": orjson.Fragment(r["links"] or "[]"),
    }


def _event(event: dict[str, Any]) -> dict[str, Any]:
    ns = event.get("time_unix_nano")
    return {
        "name": event.get("name", ""),
        "timestamp": format_unix_nano(ns) if isinstance(ns, int) else None,
        "attributes": event.get("attributes") or {},
    }


TRACE_FILTER_FIELDS = tuple(f.name for f in fields(TraceFilter))
