"""`TraceStore`: the ClickHouse reads behind the query API, always scoped to one project.

SQL lives in `sql/*.sql`; values are bound as server-side parameters, never
formatted into the text. Calls block (chDB or HTTP); the app runs them in a
worker thread.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from importlib import resources
from string import Template
from typing import Any

import orjson
from clickhouse_connect.driver.client import Client

from prela.model.timestamps import format_unix_nano


def _sql(name: str) -> Template:
    return Template((resources.files("prela.query") / "sql" / name).read_text())


_LIST = _sql("list_traces.sql")
_ROLLUPS = _sql("trace_rollups.sql")
_SPANS = _sql("trace_spans.sql")

# Each filter is a fixed clause over the aggregated columns, with its value bound.
_FILTER_CLAUSES = {
    "service": "AND has(services, {service:String})",
    "span_type": "AND has(span_types, {span_type:String})",
    "model": "AND has(models, {model:String})",
    "status": "AND has_error = {has_error:UInt8}",
    "since_ns": "AND started_ns >= {since_ns:Int64}",
    "until_ns": "AND started_ns < {until_ns:Int64}",
    "cursor": "AND (started_ns, trace_id) < ({cursor_ns:Int64}, {cursor_id:String})",
}


class InvalidCursor(ValueError):
    pass


@dataclass(slots=True, frozen=True)
class TraceFilter:
    service: str | None = None
    span_type: str | None = None
    model: str | None = None
    status: str | None = None  # SUCCESS | ERROR
    since_ns: int | None = None
    until_ns: int | None = None


def encode_cursor(started_ns: int, trace_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([started_ns, trace_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        started_ns, trace_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(started_ns, int) and isinstance(trace_id, str):
            return started_ns, trace_id
    except (ValueError, TypeError):
        pass
    raise InvalidCursor(f"cursor {cursor!r} is not one this API returned")


class TraceStore:
    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._database = database

    def list_traces(
        self, project_id: str, flt: TraceFilter, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of traces, newest first, and the cursor of the next page (None at the end)."""
        params: dict[str, Any] = {"project_id": project_id, "limit": limit + 1}
        having: list[str] = []
        for name in ("service", "span_type", "model", "since_ns", "until_ns"):
            value = getattr(flt, name)
            if value is not None:
                having.append(_FILTER_CLAUSES[name])
                params[name] = value
        if flt.status is not None:
            having.append(_FILTER_CLAUSES["status"])
            params["has_error"] = 1 if flt.status == "ERROR" else 0
        if cursor:
            params["cursor_ns"], params["cursor_id"] = decode_cursor(cursor)
            having.append(_FILTER_CLAUSES["cursor"])
        sql = _LIST.substitute(database=self._database, having=" ".join(having))
        rows = self._client.query(sql, parameters=params).named_results()
        page = list(rows)
        next_cursor = None
        if len(page) > limit:
            page = page[:limit]
            next_cursor = encode_cursor(page[-1]["started_ns"], page[-1]["trace_id"])
        rollups = self._rollups(project_id, [r["trace_id"] for r in page])
        return [_trace_summary(r, rollups.get(r["trace_id"])) for r in page], next_cursor

    def _rollups(self, project_id: str, trace_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not trace_ids:
            return {}
        sql = _ROLLUPS.substitute(database=self._database)
        result = self._client.query(sql, parameters={"project_id": project_id, "trace_ids": trace_ids})
        return {r["trace_id"]: r for r in result.named_results()}

    def get_trace(self, project_id: str, trace_id: str) -> dict[str, Any] | None:
        """The trace in the seed's shape with all its spans, or None when this project has no such trace."""
        sql = _SPANS.substitute(database=self._database)
        result = self._client.query(sql, parameters={"project_id": project_id, "trace_id": trace_id})
        rows = list(result.named_results())
        if not rows:
            return None
        return _trace_detail(trace_id, rows)

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except Exception:  # any failure means: not reachable
            return False


def _ms(ns: int) -> float:
    return ns / 1_000_000


def _root(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ids = {r["span_id"] for r in rows}
    for r in rows:  # rows are ordered by start: the first without a known parent is the root
        if not r["parent_span_id"] or r["parent_span_id"] not in ids:
            return r
    return rows[0]


def _trace_summary(row: dict[str, Any], rollup: dict[str, Any] | None) -> dict[str, Any]:
    service, root_name = row["root"]
    rollup = rollup or {}
    return {
        "trace_id": row["trace_id"],
        "service_name": service,
        "root_span_name": root_name,
        "started_at": format_unix_nano(row["started_ns"]),
        "completed_at": format_unix_nano(row["ended_ns"]),
        "duration_ms": _ms(max(0, row["ended_ns"] - row["started_ns"])),
        "status": "ERROR" if row["has_error"] else "SUCCESS",
        "span_count": rollup.get("span_count", 0),
        "error_count": rollup.get("error_count", 0),
        "input_tokens": rollup.get("input_tokens", 0),
        "output_tokens": rollup.get("output_tokens", 0),
        "total_tokens": rollup.get("total_tokens", 0),
        "cost_usd": rollup.get("cost_usd", 0.0),
        "services": sorted(row["services"]),
        "span_types": sorted(row["span_types"]),
        "models": sorted(row["models"]),
    }


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
        "cost_usd": sum(r["cost_usd"] for r in rows),
        "spans": [_span(trace_id, r) for r in rows],
    }


def _span(trace_id: str, r: dict[str, Any]) -> dict[str, Any]:
    return {
        "span_id": r["span_id"],
        "trace_id": trace_id,
        "parent_span_id": r["parent_span_id"] or None,
        "name": r["name"],
        "span_type": r["span_type"],
        "kind": r["kind"],
        "service_name": r["service_name"],
        "started_at": format_unix_nano(r["started_ns"]),
        "ended_at": format_unix_nano(r["ended_ns"]),
        "duration_ms": _ms(r["duration_ns"]),
        "status": r["status"],
        "status_message": r["status_message"],
        "model": r["model"],
        "request_model": r["request_model"],
        "provider": r["provider"],
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "total_tokens": r["total_tokens"],
        "cache_read_tokens": r["cache_read_tokens"],
        "cache_write_tokens": r["cache_write_tokens"],
        "reasoning_tokens": r["reasoning_tokens"],
        "cost_usd": r["cost_usd"],
        "input": r["input"],
        "output": r["output"],
        "attributes": orjson.loads(r["attributes"] or "{}"),
        "resource_attributes": orjson.loads(r["resource_attributes"] or "{}"),
        "scope": {
            "name": r["scope_name"],
            "version": r["scope_version"],
            "attributes": orjson.loads(r["scope_attributes"] or "{}"),
        },
        "trace_state": r["trace_state"],
        "events": [_event(e) for e in orjson.loads(r["events"] or "[]")],
        "links": orjson.loads(r["links"] or "[]"),
    }


def _event(event: dict[str, Any]) -> dict[str, Any]:
    ns = event.get("time_unix_nano")
    return {
        "name": event.get("name", ""),
        "timestamp": format_unix_nano(ns) if isinstance(ns, int) else None,
        "attributes": event.get("attributes") or {},
    }
