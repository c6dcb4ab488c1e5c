"""`GET /api/v1/metrics`: the OTLP metrics a project sent, and one metric's series over time.

Without `name`: the metric names seen in [since, until) (default: the last 7 days) with type and
unit. With `name`: that metric in buckets of `interval` over [since, until) (default: the last
day), grouped by one attribute (`group_by=gen_ai.request.model`): sums and gauges as `value`
(cumulative series: the latest value in the bucket; delta: the sum; gauges: the average), histograms
and summaries as `count` and `sum`. Reads are range reads of the `metrics` table, keyed
(project_id, metric_name, time).
"""

from __future__ import annotations

import asyncio
import math
import time
from importlib import resources
from string import Template
from typing import Any

from clickhouse_connect.driver.client import Client
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prela.model.timestamps import format_unix_nano
from prela.query.app import (
    _INTERVALS,
    BadQuery,
    OrjsonResponse,
    _auto_interval,
    _error,
    _option,
    _project,
    _text,
    _time,
)
from prela.query.store import MAX_STAT_BUCKETS, TraceStore

DEFAULT_LIST_RANGE_NS = 7 * 24 * 3600 * 1_000_000_000
DEFAULT_SERIES_RANGE_NS = 24 * 3600 * 1_000_000_000
MAX_METRICS = 10_000
MAX_POINTS = 100_000
HISTOGRAM_TYPES = frozenset(("histogram", "exponential_histogram", "summary"))


def _sql(name: str) -> Template:
    return Template((resources.files("prela.query") / "sql" / name).read_text())


_LIST = _sql("metric_names.sql")
_SERIES = _sql("metric_series.sql")
# One attribute's value as text: strings as they are, other JSON values in their JSON form.
_GROUP_EXPR = (
    "if(JSONType(attributes, {group_by:String}) = 'String', JSONExtractString(attributes, {group_by:String}), "
    "JSONExtractRaw(attributes, {group_by:String}))"
)


def _number(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else value


class MetricsStore:
    """The ClickHouse reads of the metrics API, scoped to one project."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._database = database

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return list(self._client.query(sql, parameters=params).named_results())

    def names(self, project_id: str, since: int, until: int) -> list[dict[str, Any]]:
        sql = _LIST.substitute(database=self._database, max_metrics=MAX_METRICS)
        rows = self._rows(sql, {"project_id": project_id, "since": since, "until": until})
        return [
            {
                "name": r["name"],
                "type": r["type"],
                "unit": r["unit"],
                "description": r["description"],
                "last_seen": format_unix_nano(r["last_ns"]),
                "points": r["points"],
            }
            for r in rows
        ]

    def series(
        self, project_id: str, name: str, since: int, until: int, interval_s: int, group_by: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "project_id": project_id,
            "name": name,
            "since": since,
            "until": until,
            "interval_ns": interval_s * 1_000_000_000,
        }
        group_expr = "''"
        if group_by is not None:
            params["group_by"] = group_by
            group_expr = _GROUP_EXPR
        sql = _SERIES.substitute(database=self._database, group_expr=group_expr, max_points=MAX_POINTS)
        rows = self._rows(sql, params)
        series: dict[str, list[dict[str, Any]]] = {}
        metric_type = rows[0]["metric_type"] if rows else None
        for r in rows:
            point: dict[str, Any] = {"time": format_unix_nano(r["bucket"])}
            if r["metric_type"] in HISTOGRAM_TYPES:
                point["count"], point["sum"] = r["total_count"], _number(r["total_sum"])
            else:
                point["value"] = _number(r["value"])
            series.setdefault(r["grp"], []).append(point)
        return {
            "name": name,
            "type": metric_type,
            "since": format_unix_nano(since),
            "until": format_unix_nano(until),
            "interval_seconds": interval_s,
            "group_by": group_by,
            "series": [{"group": group, "points": points} for group, points in series.items()],
        }


class MetricsApi:
    def __init__(self, store: MetricsStore) -> None:
        self._store = store

    async def metrics(self, request: Request) -> Response:
        params = request.query_params
        try:
            name = _text("name", params.get("name"))
            until = _time("until", params.get("until"))
            until = until if until is not None else time.time_ns()
            since = _time("since", params.get("since"))
            if name is None:
                since = since if since is not None else until - DEFAULT_LIST_RANGE_NS
                if since >= until:
                    raise BadQuery("since must be earlier than until")
                names = await asyncio.to_thread(self._store.names, _project(request), since, until)
                return OrjsonResponse({"metrics": names})
            since = since if since is not None else until - DEFAULT_SERIES_RANGE_NS
            if since >= until:
                raise BadQuery("since must be earlier than until")
            raw_interval = _option("interval", params.get("interval"), (*_INTERVALS, "auto"), "auto")
            interval = _INTERVALS.get(raw_interval) or _auto_interval(until - since)
            if (until - since) // (interval * 1_000_000_000) > MAX_STAT_BUCKETS:
                raise BadQuery(
                    f"interval {raw_interval!r} gives more than {MAX_STAT_BUCKETS} buckets over the range: "
                    "choose a longer interval or a shorter range"
                )
            group_by = _text("group_by", params.get("group_by"))
            body = await asyncio.to_thread(
                self._store.series, _project(request), name, since, until, interval, group_by
            )
        except BadQuery as exc:
            return _error(400, str(exc))
        return OrjsonResponse(body)


def metrics_routes(store: TraceStore) -> list[Route]:
    """The metrics API's routes (on the trace store's ClickHouse), mounted by `build_query_app`."""
    api = MetricsApi(MetricsStore(store.client, store.database))
    return [Route("/api/v1/metrics", api.metrics, methods=["GET"])]
