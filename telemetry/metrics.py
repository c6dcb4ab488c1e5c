"""Every Prometheus metric Prela exposes, defined once (prometheus-client's default registry).

Names follow Prometheus conventions: `prela_` prefix, units in names, `_total`
counters, histograms in seconds. Labels only take bounded values: transport,
reason, route templates, status codes, topic/partition — never trace ids, keys
or project ids.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Receivers
RECEIVER_ACCEPTED_SPANS = Counter(
    "prela_receiver_accepted_spans_total", "Spans accepted and made durable, by transport.", ["transport"]
)
RECEIVER_REFUSED_SPANS = Counter(
    "prela_receiver_refused_spans_total",
    "Spans refused, by transport and reason (invalid_span, overloaded, unavailable, auth, rate_limited; "
    "decode and too_large count requests whose spans could not be counted as 0 here).",
    ["transport", "reason"],
)
RECEIVER_REFUSED_REQUESTS = Counter(
    "prela_receiver_refused_requests_total",
    "Export requests refused as a whole, by transport and reason (admission: over the admission limits, "
    "deadline: the client's deadline passed or cannot be met; both before any work).",
    ["transport", "reason"],
)
ADMISSION_IN_FLIGHT = Gauge("prela_admission_in_flight_requests", "Ingest requests admitted and in flight.")
ADMISSION_QUEUED = Gauge("prela_admission_queued_requests", "Ingest requests waiting for admission.")
ADMISSION_IN_FLIGHT_BYTES = Gauge(
    "prela_admission_in_flight_bytes", "Body bytes of the ingest requests admitted and in flight."
)
ADMISSION_OLDEST_WAIT_SECONDS = Gauge(
    "prela_admission_oldest_wait_seconds",
    "How long the oldest request waiting for admission has waited (0: none).",
)
ADMISSION_WAIT_SECONDS = Histogram(
    "prela_admission_wait_seconds",
    "Time an admitted ingest request waited for admission (0 when admitted on arrival).",
    buckets=LATENCY_BUCKETS,
)
RECEIVER_REQUEST_SECONDS = Histogram(
    "prela_receiver_request_duration_seconds",
    "Time to answer an export request, by transport.",
    ["transport"],
    buckets=LATENCY_BUCKETS,
)

# Embedded pipeline
QUEUE_SPANS = Gauge("prela_queue_spans", "Spans waiting in the in-process queue.")
QUEUE_CAPACITY_SPANS = Gauge("prela_queue_capacity_spans", "Capacity of the in-process queue, in spans.")
QUEUE_OLDEST_AGE_SECONDS = Gauge(
    "prela_queue_oldest_age_seconds",
    "How long the oldest request in the in-process queue has waited for the writer (0: empty).",
)

# Kafka exporter
EXPORTER_SENT_SPANS = Counter(
    "prela_exporter_sent_spans_total", "Spans acknowledged by the exporter's destination.", ["exporter"]
)
EXPORTER_FAILED_SPANS = Counter(
    "prela_exporter_failed_spans_total",
    "Spans the exporter could not deliver (client told to retry).",
    ["exporter"],
)

# The collector's spool (scale-out): accepted requests on disk until Kafka acknowledged them
SPOOL_BYTES = Gauge("prela_spool_bytes", "Bytes of the collector's spool files on disk.")
SPOOL_CAPACITY_BYTES = Gauge(
    "prela_spool_capacity_bytes", "The spool's limit (PRELA_SPOOL_MAX_BYTES); past it requests get 503."
)
SPOOL_PENDING_REQUESTS = Gauge(
    "prela_spool_pending_requests", "Accepted requests in the spool not yet acknowledged by Kafka."
)
SPOOL_OLDEST_AGE_SECONDS = Gauge(
    "prela_spool_oldest_entry_age_seconds",
    "Age of the oldest request in the spool not yet acknowledged by Kafka (0 when none waits).",
)
SPOOL_APPENDED_SPANS = Counter("prela_spool_appended_spans_total", "Spans appended to the spool (accepted).")
SPOOL_DRAINED_SPANS = Counter(
    "prela_spool_drained_spans_total",
    "Spans sent from the spool, acknowledged by Kafka and checkpointed (a replay after a crash counts again).",
)

# Writers (embedded and Kafka → ClickHouse)
WRITER_INSERTED_SPANS = Counter("prela_writer_inserted_spans_total", "Spans inserted into ClickHouse.")
WRITER_INSERTED_BATCHES = Counter("prela_writer_inserted_batches_total", "Insert batches into ClickHouse.")
WRITER_INSERT_ERRORS = Counter("prela_writer_insert_errors_total", "Failed ClickHouse inserts (retried).")
WRITER_UNSTORABLE_SPANS = Counter(
    "prela_writer_unstorable_spans_total",
    "Spans ClickHouse can never hold (a value out of its column's range), logged and skipped.",
)
WRITER_INSERT_SECONDS = Histogram(
    "prela_writer_insert_duration_seconds", "Time of one ClickHouse insert.", buckets=LATENCY_BUCKETS
)
WRITER_CONSUMER_LAG = Gauge(
    "prela_writer_consumer_lag_messages",
    "Messages not yet consumed, per topic partition.",
    ["topic", "partition"],
)
WRITER_DEAD_LETTERED = Counter(
    "prela_writer_dead_lettered_messages_total", "Undecodable messages sent to the dead-letter topic."
)

# Query API
QUERY_REQUESTS = Counter(
    "prela_query_requests_total", "Query API requests, by route template and status.", ["route", "status"]
)
QUERY_REQUEST_SECONDS = Histogram(
    "prela_query_request_duration_seconds",
    "Query API latency, by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
)


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics` in the Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class RouteMetricsMiddleware:
    """Counts and times requests by route template (never the raw path) and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response = ResponseStatus(send)
        try:
            await self.app(scope, receive, response)
        finally:
            template = route_template(scope)
            QUERY_REQUESTS.labels(template, str(response.status)).inc()
            QUERY_REQUEST_SECONDS.labels(template).observe(time.perf_counter() - started)


class ResponseStatus:
    """An ASGI `send` that passes messages on and remembers the response status (500 until one is sent:
    what the client gets when the app raises before answering)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (`/api/v1/traces/{trace_id:path}`), never the
    raw path; `unmatched` when no route matched."""
    return getattr(scope.get("route"), "path", None) or "unmatched"
