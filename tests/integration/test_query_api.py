"""The query API: listing newest first with filters and cursor pagination, trace detail, errors."""

from __future__ import annotations

import os
import time
import uuid

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from tests.conftest import PrelaServer
from tests.integration.test_bad_input import post
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

BASE_NS = 1_750_000_000_000_000_000


def kv(key: str, value: str | int) -> KeyValue:
    any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value)
    return KeyValue(key=key, value=any_value)


def send_trace(server: PrelaServer, service: str, offset_s: int, model: str, error: bool = False) -> str:
    trace_id = os.urandom(16)
    start = BASE_NS + offset_s * 1_000_000_000
    llm = Span(
        trace_id=trace_id, span_id=os.urandom(8), name="chat", start_time_unix_nano=start,
        end_time_unix_nano=start + 250_000_000,
        attributes=[kv("gen_ai.operation.name", "chat"), kv("gen_ai.request.model", model),
                    kv("gen_ai.usage.input_tokens", 10), kv("gen_ai.usage.output_tokens", 5)],
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK),
    )  # fmt: skip
    resource = Resource(attributes=[kv("service.name", service)])
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[llm])])]
    )
    assert post(server, request.SerializeToString(), "application/x-protobuf").status_code == 200
    return trace_id.hex()


@pytest.fixture(scope="module")
def catalogue(prela_serve: PrelaServer) -> dict[str, object]:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    ids = [
        send_trace(prela_serve, service, 0, "gpt-4o"),
        send_trace(prela_serve, service, 10, "gpt-4o-mini", error=True),
        send_trace(prela_serve, service, 20, "claude-3-5-haiku-20241022"),
        send_trace(prela_serve, service, 30, "gpt-4o"),
        send_trace(prela_serve, service, 40, "gpt-4o", error=True),
    ]
    wait_for_trace(prela_serve, ids[-1], 1)
    return {"service": service, "ids": ids}


def list_traces(server: PrelaServer, **params: str) -> httpx.Response:
    return httpx.get(f"{server.query_url}/api/v1/traces", params=params, timeout=30)


def test_list_is_newest_first(prela_serve: PrelaServer, catalogue: dict) -> None:
    body = list_traces(prela_serve, service=catalogue["service"]).json()
    assert [t["trace_id"] for t in body["traces"]] == list(reversed(catalogue["ids"]))
    assert body["next_cursor"] is None


def test_cursor_pagination_walks_every_trace_once(prela_serve: PrelaServer, catalogue: dict) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"service": catalogue["service"], "limit": "2", **({"cursor": cursor} if cursor else {})}
        body = list_traces(prela_serve, **params).json()
        assert len(body["traces"]) <= 2
        seen += [t["trace_id"] for t in body["traces"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(catalogue["ids"]))


def test_status_filter(prela_serve: PrelaServer, catalogue: dict) -> None:
    body = list_traces(prela_serve, service=catalogue["service"], status="error").json()
    assert [t["trace_id"] for t in body["traces"]] == [catalogue["ids"][4], catalogue["ids"][1]]
    assert all(t["status"] == "ERROR" for t in body["traces"])


def test_model_filter(prela_serve: PrelaServer, catalogue: dict) -> None:
    body = list_traces(prela_serve, service=catalogue["service"], model="gpt-4o").json()
    assert [t["trace_id"] for t in body["traces"]] == [catalogue["ids"][i] for i in (4, 3, 0)]


def test_span_type_filter(prela_serve: PrelaServer, catalogue: dict) -> None:
    assert len(list_traces(prela_serve, service=catalogue["service"], span_type="llm").json()["traces"]) == 5
    assert list_traces(prela_serve, service=catalogue["service"], span_type="TOOL").json()["traces"] == []


def test_time_range_filter(prela_serve: PrelaServer, catalogue: dict) -> None:
    since = BASE_NS + 10 * 1_000_000_000
    until = BASE_NS + 30 * 1_000_000_000
    body = list_traces(
        prela_serve, service=catalogue["service"], since=str(since), until="2025-06-15T15:07:10Z"
    ).json()
    assert until == 1_750_000_030_000_000_000
    assert [t["trace_id"] for t in body["traces"]] == [catalogue["ids"][2], catalogue["ids"][1]]


def test_list_rollups(prela_serve: PrelaServer, catalogue: dict) -> None:
    [first] = list_traces(prela_serve, service=catalogue["service"], limit="1").json()["traces"][-1:]
    assert (first["span_count"], first["input_tokens"], first["output_tokens"], first["total_tokens"]) == (
        1, 10, 5, 15,
    )  # fmt: skip
    assert first["duration_ms"] == 250.0
    assert first["models"] == ["gpt-4o"]
    assert first["service_name"] == catalogue["service"]


def test_trace_ids_are_found_in_upper_case_too(prela_serve: PrelaServer, catalogue: dict) -> None:
    response = httpx.get(f"{prela_serve.query_url}/api/v1/traces/{catalogue['ids'][0].upper()}")
    assert response.status_code == 200
    assert response.json()["trace_id"] == catalogue["ids"][0]


def test_unknown_trace_is_404_json(prela_serve: PrelaServer) -> None:
    response = httpx.get(f"{prela_serve.query_url}/api/v1/traces/{'ab' * 16}")
    assert response.status_code == 404
    assert response.json() == {"error": "trace not found", "trace_id": "ab" * 16}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"status": "MAYBE"}, "status"),
        ({"span_type": "SPACESHIP"}, "span_type"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2025-01-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_query_parameters_are_400(prela_serve: PrelaServer, params: dict, message: str) -> None:
    response = list_traces(prela_serve, **params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_sql_in_parameters_is_inert(prela_serve: PrelaServer, catalogue: dict) -> None:
    hostile = "x' OR 1=1 --"
    assert list_traces(prela_serve, service=hostile).json()["traces"] == []
    assert list_traces(prela_serve, model="'); DROP TABLE prela.spans; --").json()["traces"] == []
    assert httpx.get(f"{prela_serve.query_url}/api/v1/traces/' OR '1'='1").status_code == 404
    assert len(list_traces(prela_serve, service=catalogue["service"]).json()["traces"]) == 5


def test_health(prela_serve: PrelaServer) -> None:
    assert httpx.get(f"{prela_serve.query_url}/api/v1/health").json() == {
        "status": "ok", "clickhouse": "ok", "store": "ok",
    }  # fmt: skip
    assert httpx.get(f"{prela_serve.ingest_url}/health").json() == {"status": "ok", "clickhouse": "ok"}


def test_events_come_back_with_timestamps(prela_serve: PrelaServer) -> None:
    doc = {
        "trace_id": f"evt-{uuid.uuid4().hex}", "service_name": "evt", "spans": [{
            "span_id": "s1", "name": "step", "span_type": "TOOL", "started_at": "2025-01-27T10:00:00Z",
            "ended_at": "2025-01-27T10:00:01Z", "status": "SUCCESS",
            "events": [{"name": "retry", "timestamp": "2025-01-27T10:00:00.5Z", "attributes": {"attempt": 2}}],
        }],
    }  # fmt: skip
    response = post(prela_serve, orjson.dumps(doc), "application/json")
    assert response.json() == {"status": "accepted", "trace_id": doc["trace_id"]}
    deadline = time.monotonic() + 10
    while (r := httpx.get(f"{prela_serve.query_url}/api/v1/traces/{doc['trace_id']}")).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    [event] = r.json()["spans"][0]["events"]
    assert event == {"name": "retry", "timestamp": "2025-01-27T10:00:00.5Z", "attributes": {"attempt": 2}}


LOG_CONTENT_EVERY = 50  # every 50th step's answer is sent only as a `gen_ai.choice` log record


def _step_messages(i: int) -> tuple[str, str]:
    question = [{"role": "user", "parts": [{"type": "text", "content": f"step {i}: " + "why? " * 40}]}]
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": f"answer {i}: " + "because. " * 30}],
               "finish_reason": "stop"}]  # fmt: skip
    return orjson.dumps(question).decode(), orjson.dumps(answer).decode()


def test_a_trace_of_ten_thousand_spans_with_content_is_returned_complete(prela_serve: PrelaServer) -> None:
    """Issue 12: 10,000 spans, each LLM step with its prompt and answer (~0.6 KB), some answers arriving
    only as OTLP log records (joined at read time): everything comes back, in order, with its content."""
    trace_id = os.urandom(16)
    root_id = os.urandom(8)
    word = f"run{uuid.uuid4().hex}"
    spans = [Span(trace_id=trace_id, span_id=root_id, name=f"agent {word}", start_time_unix_nano=BASE_NS,
                  end_time_unix_nano=BASE_NS + 10**12)]  # fmt: skip
    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    for i in range(9_999):
        question, answer = _step_messages(i)
        span_id = (i + 1).to_bytes(8, "big")
        attributes = [kv("gen_ai.operation.name", "chat"), kv("gen_ai.usage.input_tokens", 1),
                      kv("gen_ai.input.messages", question)]  # fmt: skip
        if i % LOG_CONTENT_EVERY:
            attributes.append(kv("gen_ai.output.messages", answer))
        else:  # semconv <= 1.36: the choice as a log event linked to its span
            record = records.add(
                time_unix_nano=BASE_NS + (i + 1) * 10**6, event_name="gen_ai.choice", trace_id=trace_id,
                span_id=span_id,
            )  # fmt: skip
            record.body.kvlist_value.values.add(key="finish_reason").value.string_value = "stop"
            message = record.body.kvlist_value.values.add(key="message").value.kvlist_value
            message.values.add(key="role").value.string_value = "assistant"
            message.values.add(key="content").value.string_value = orjson.loads(answer)[0]["parts"][0][
                "content"
            ]
        spans.append(
            Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=root_id,
                name=f"step {i}",
                start_time_unix_nano=BASE_NS + (i + 1) * 10**6,
                end_time_unix_nano=BASE_NS + (i + 1) * 10**6 + 10**5,
                attributes=attributes,
            )
        )
    # The log records first: content may arrive before its spans.
    response = httpx.post(
        f"{prela_serve.ingest_url}/v1/logs",
        content=logs.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    assert response.status_code == 200
    for start in range(0, len(spans), 2_500):
        chunk = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans[start : start + 2_500])])]
        )
        assert post(prela_serve, chunk.SerializeToString(), "application/x-protobuf").status_code == 200
    detail = wait_for_trace(prela_serve, trace_id.hex(), 10_000)
    assert detail["span_count"] == 10_000 and detail["input_tokens"] == 9_999
    assert [s["name"] for s in detail["spans"]] == [f"agent {word}"] + [f"step {i}" for i in range(9_999)]
    for i, span in enumerate(detail["spans"][1:]):
        question, answer = _step_messages(i)
        assert orjson.loads(span["input"]) == orjson.loads(question), i
        assert orjson.loads(span["output"]) == orjson.loads(answer), i
    listed = httpx.get(f"{prela_serve.query_url}/api/v1/traces", params={"q": word}, timeout=30).json()
    assert {"trace_id": trace_id.hex(), "span_count": 10_000}.items() <= listed["traces"][0].items()
