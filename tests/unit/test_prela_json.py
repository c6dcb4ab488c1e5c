"""The seed's Prela JSON payload → SpanRecords, and every way it can be invalid."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from prela.collector.errors import InvalidPayload
from prela.collector.prela_json import is_prela_trace, map_prela_trace
from prela.collector.pricing import cost_usd
from prela.model.span import SpanRecord
from tests.integration.test_seed_payload import SEED_PAYLOAD as SEED_PAYLOAD_BYTES

# Exactly the payload of the seed's deployment guide ("Send Test Trace").
SEED_PAYLOAD: dict[str, Any] = json.loads(SEED_PAYLOAD_BYTES)
T0 = 1_737_972_000_000_000_000  # 2025-01-27T10:00:00Z in ns


def seed() -> dict[str, Any]:
    return copy.deepcopy(SEED_PAYLOAD)


def first_span(doc: dict[str, Any]) -> SpanRecord:
    return map_prela_trace(doc, "proj-1")[1][0]


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def with_span(**changes: Any) -> dict[str, Any]:
    doc = seed()
    doc["spans"][0].update(changes)
    return doc


def test_seed_payload_maps_exactly() -> None:
    trace_id, records = map_prela_trace(seed(), "proj-1")
    assert trace_id == "test-production-123"
    assert records == [
        SpanRecord(
            project_id="proj-1",
            trace_id="test-production-123",
            span_id="span-1",
            parent_span_id="",
            trace_state="",
            name="test-operation",
            span_type="LLM",
            kind="INTERNAL",
            service_name="test-service",
            scope_name="",
            scope_version="",
            started_at_ns=T0,
            ended_at_ns=T0 + 1_000_000_000,
            duration_ns=1_000_000_000,
            status="SUCCESS",
            status_message="",
            attributes='{"model":"gpt-4"}',
            resource_attributes='{"service.name":"test-service"}',
            scope_attributes="{}",
            events="[]",
            links="[]",
            provider="",
            model="gpt-4",
            request_model="",
            input_tokens=0,
            output_tokens=0,
            total_tokens=0,
            cache_read_tokens=0,
            cache_write_tokens=0,
            reasoning_tokens=0,
            cost_usd=0.0,
            input="",
            output="",
        )
    ]


def test_seed_payload_is_a_prela_trace() -> None:
    assert is_prela_trace(seed()) is True


@pytest.mark.parametrize(
    "doc",
    [
        {"resourceSpans": [], "spans": []},
        {"resource_spans": [], "spans": []},
        {},
        {"unknownField": 1},
        [{"spans": []}],
        "spans",
        None,
    ],
)
def test_other_shapes_are_not_prela_traces(doc: object) -> None:
    assert is_prela_trace(doc) is False


@pytest.mark.parametrize(
    "doc",
    [
        {"trace_id": "x", "service_name": "s"},
        {"spans": "not a list"},
        {"service_name": "s"},
        {"started_at": "2025-01-27T10:00:00Z"},
    ],
)
def test_a_body_with_any_prela_trace_field_is_a_prela_trace(doc: object) -> None:
    # so that a trace without its spans is refused instead of read as an empty OTLP request
    assert is_prela_trace(doc) is True


def test_project_id_comes_from_the_argument() -> None:
    doc = with_span(project_id="other")
    assert first_span(doc).project_id == "proj-1"


def test_ended_at_missing_uses_duration() -> None:
    doc = seed()
    del doc["spans"][0]["ended_at"]
    doc["spans"][0]["duration_ms"] = 250.5
    record = first_span(doc)
    assert (record.ended_at_ns, record.duration_ns) == (T0 + 250_500_000, 250_500_000)


def test_timestamp_with_offset_and_nanoseconds() -> None:
    record = first_span(with_span(started_at="2025-01-27T11:00:00.123456789+01:00", ended_at=None))
    assert record.started_at_ns == T0 + 123_456_789


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_737_972_000, T0),
        (1_737_972_000.5, T0 + 500_000_000),
        (1_737_972_000_000, T0),
        (1_737_972_000_000_000, T0),
        (T0, T0),
    ],
)
def test_epoch_numbers_by_magnitude(value: float, expected: int) -> None:
    record = first_span(with_span(started_at=value, ended_at=None, duration_ms=0))
    assert record.started_at_ns == expected


def test_span_type_is_case_insensitive() -> None:
    assert first_span(with_span(span_type="tool")).span_type == "TOOL"


def test_span_type_from_attributes_when_not_given() -> None:
    doc = seed()
    del doc["spans"][0]["span_type"]
    doc["spans"][0]["attributes"] = {"openinference.span.kind": "RETRIEVER"}
    assert first_span(doc).span_type == "RETRIEVAL"


def test_span_without_type_or_conventions_is_custom() -> None:
    doc = seed()
    del doc["spans"][0]["span_type"]
    doc["spans"][0]["attributes"] = {}
    assert first_span(doc).span_type == "CUSTOM"


def test_llm_fields_as_top_level_span_keys() -> None:
    record = first_span(
        with_span(
            model="gpt-4o",
            provider="OpenAI",
            input_tokens=1000,
            output_tokens=100,
            input="Hi",
            output={"answer": "Hello"},
        )
    )
    assert (record.model, record.provider, record.input, record.output) == (
        "gpt-4o",
        "openai",
        "Hi",
        '{"answer":"Hello"}',
    )
    assert (record.input_tokens, record.output_tokens, record.total_tokens) == (1000, 100, 1100)
    assert record.cost_usd == pytest.approx(cost_usd("gpt-4o", 1000, 100))


def test_explicit_cost_and_total_win() -> None:
    record = first_span(with_span(input_tokens=10, output_tokens=5, total_tokens=20, cost_usd=0.25))
    assert (record.total_tokens, record.cost_usd) == (20, 0.25)


def test_plain_attribute_keys_are_read() -> None:
    record = first_span(
        with_span(
            attributes={"model": "gpt-4", "input_tokens": 100, "output_tokens": 50, "provider": "OpenAI"}
        )
    )
    assert (record.model, record.provider, record.total_tokens) == ("gpt-4", "openai", 150)
    assert record.cost_usd == pytest.approx(cost_usd("gpt-4", 100, 50))


def test_otel_conventions_in_attributes_are_read() -> None:
    record = first_span(
        with_span(
            attributes={
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 2,
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "Hi",
            }
        )
    )
    assert (record.model, record.request_model, record.total_tokens) == ("gpt-4o", "gpt-4o", 12)
    assert record.input == '[{"role":"user","content":"Hi"}]'


def test_optional_span_fields() -> None:
    record = first_span(
        with_span(
            parent_span_id="span-0",
            kind="client",
            service_name="worker",
            status="error",
            status_message="timeout",
        )
    )
    assert (record.parent_span_id, record.kind, record.service_name) == ("span-0", "CLIENT", "worker")
    assert (record.status, record.status_message) == ("ERROR", "timeout")


def test_events_are_normalised() -> None:
    events = [{"name": "retry", "timestamp": "2025-01-27T10:00:00.5Z", "attributes": {"n": 1}}]
    record = first_span(with_span(events=events))
    assert json.loads(record.events) == [
        {"name": "retry", "time_unix_nano": T0 + 500_000_000, "attributes": {"n": 1}}
    ]


def test_span_trace_id_may_be_omitted() -> None:
    doc = seed()
    del doc["spans"][0]["trace_id"]
    assert first_span(doc).trace_id == "test-production-123"


def test_missing_service_name_is_unknown_service() -> None:
    doc = seed()
    del doc["service_name"]
    assert first_span(doc).service_name == "unknown_service"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("trace_id"), "trace_id: None is not an id"),
        (lambda d: d.update(trace_id=""), "trace_id: '' is not an id"),
        (lambda d: d.update(trace_id="x" * 129), "trace_id: 'xxxx"),
        (lambda d: d.update(trace_id="a\nb"), "trace_id: 'a\\nb' is not an id"),
        (lambda d: d.update(spans={"0": {}}), "spans: expected a list, got dict"),
        (lambda d: d.pop("spans"), "spans: missing (a Prela trace carries a non-empty list of spans)"),
        (lambda d: d.update(spans=[]), "spans: must not be empty"),
        (lambda d: d.update(started_at="yesterday"), "started_at: 'yesterday' is not an ISO-8601 timestamp"),
        (lambda d: d.update(status="MAYBE"), "status: 'MAYBE' is not a status (expected SUCCESS or ERROR)"),
        (lambda d: d["spans"].append("span-2"), "spans[1]: expected an object, got str"),
        (lambda d: d["spans"][0].pop("span_id"), "spans[0].span_id: None is not an id"),
        (
            lambda d: d["spans"][0].update(trace_id="other-trace"),
            "spans[0].trace_id: 'other-trace' differs from the trace's 'test-production-123'",
        ),
        (lambda d: d["spans"][0].pop("name"), "spans[0].name: None is not a non-empty string"),
        (lambda d: d["spans"][0].pop("started_at"), "spans[0].started_at: missing"),
        (
            lambda d: d["spans"][0].update(started_at="2025-13-01"),
            "spans[0].started_at: '2025-13-01' is not an ISO-8601 timestamp",
        ),
        (
            lambda d: d["spans"][0].update(started_at="9999-12-31T00:00:00Z"),
            "spans[0].started_at: '9999-12-31T00:00:00Z' is out of range: a timestamp must be from "
            "1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z",
        ),
        (
            lambda d: d["spans"][0].update(ended_at="2262-04-11T23:47:16.854775808Z"),
            "spans[0].ended_at: '2262-04-11T23:47:16.854775808Z' is out of range",
        ),
        (
            lambda d: d["spans"][0].update(started_at="1969-12-31T23:59:59Z"),
            "spans[0].started_at: '1969-12-31T23:59:59Z' is out of range",
        ),
        (lambda d: d["spans"][0].update(started_at=-1), "spans[0].started_at: -1 is out of range"),
        (lambda d: d["spans"][0].update(started_at=1e300), "spans[0].started_at: 1e+300 is out of range"),
        (
            lambda d: d.update(completed_at="9999-12-31T00:00:00Z"),
            "completed_at: '9999-12-31T00:00:00Z' is out",
        ),
        (
            lambda d: d["spans"][0].update(
                started_at="2262-04-11T23:47:16Z", ended_at=None, duration_ms=1000
            ),
            "spans[0].duration_ms: 1000 ends the span after 2262-04-11T23:47:16.854775807Z",
        ),
        (
            lambda d: d["spans"][0]["events"].append({"name": "e", "timestamp": "9999-01-01T00:00:00Z"}),
            "spans[0].events[0].timestamp: '9999-01-01T00:00:00Z' is out of range",
        ),
        (
            lambda d: d["spans"][0].update(attributes={"deep": _nested(300)}),
            "spans[0].attributes: Recursion limit reached",
        ),
        (
            lambda d: d["spans"][0].update(output=_nested(300)),
            "spans[0].output: Recursion limit reached",
        ),
        (
            lambda d: d["spans"][0].update(ended_at="2025-01-27T09:00:00Z"),
            "spans[0].ended_at: '2025-01-27T09:00:00Z' is before started_at '2025-01-27T10:00:00Z'",
        ),
        (
            lambda d: d["spans"][0].update(duration_ms=-1),
            "spans[0].duration_ms: -1 is not a non-negative number of milliseconds",
        ),
        (
            lambda d: d["spans"][0].update(span_type="WIDGET"),
            "spans[0].span_type: 'WIDGET' is not a span type",
        ),
        (lambda d: d["spans"][0].update(kind="SIDEWAYS"), "spans[0].kind: 'SIDEWAYS' is not a span kind"),
        (lambda d: d["spans"][0].update(status=1), "spans[0].status: 1 is not a status"),
        (
            lambda d: d["spans"][0].update(attributes=["model"]),
            "spans[0].attributes: expected an object, got list",
        ),
        (lambda d: d["spans"][0].update(events={}), "spans[0].events: expected a list, got dict"),
        (
            lambda d: d["spans"][0].update(input_tokens="10"),
            "spans[0].input_tokens: '10' is not a non-negative 64-bit integer",
        ),
        (lambda d: d["spans"][0].update(model=4), "spans[0].model: 4 is not a string"),
        (
            lambda d: d["spans"][0].update(cost_usd=-0.1),
            "spans[0].cost_usd: -0.1 is not a number from 0 to 1000000 (USD)",
        ),
        (
            # two such spans summed to inf: the trace and the project's trace list answered 500
            lambda d: d["spans"][0].update(cost_usd=1.7e308),
            "spans[0].cost_usd: 1.7e+308 is not a number from 0 to 1000000 (USD)",
        ),
    ],
)
def test_invalid_payloads_name_the_field_and_value(mutate: Any, message: str) -> None:
    doc = seed()
    mutate(doc)
    with pytest.raises(InvalidPayload) as raised:
        map_prela_trace(doc, "p")
    assert str(raised.value).startswith(message)


def test_non_object_body_is_invalid() -> None:
    with pytest.raises(InvalidPayload, match=r"^body: expected a JSON object, got list$"):
        map_prela_trace([], "p")  # type: ignore[arg-type]


def test_instructions_whose_text_nests_deeper_than_json_can_be_written_are_kept_as_text() -> None:
    deep_text = "[" * 300 + "]" * 300
    record = first_span(with_span(attributes={"gen_ai.system_instructions": deep_text}))
    assert json.loads(record.input) == [{"role": "system", "content": deep_text}]


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        (1737972000.123, T0 + 123_000_000),  # the decimal written, not the binary float's digits
        (1737972000123, T0 + 123_000_000),  # milliseconds
        ("1737972000.123456789", T0 + 123_456_789),  # epoch text keeps every digit
        ("2025-01-27T10:00:00.1234567891Z", T0 + 123_456_789),  # finer than 1 ns: truncated
        ("2025-01-27T11:00:00.5+01:00", T0 + 500_000_000),
    ],
)
def test_timestamps_are_read_exactly_to_the_nanosecond(value: object, ns: int) -> None:
    record = first_span(with_span(started_at=value, ended_at=None, duration_ms=None))
    assert record.started_at_ns == ns


def test_the_last_storable_nanosecond_is_accepted() -> None:
    doc = with_span(started_at="2262-04-11T23:47:16.854775807Z", ended_at=None, duration_ms=None)
    record = first_span(doc)
    assert (record.started_at_ns, record.ended_at_ns) == (2**63 - 1, 2**63 - 1)


def test_a_trace_id_shaped_like_an_otlp_id_is_stored_in_lower_case() -> None:
    # the query API looks 32-hex-digit ids up in lower case: stored otherwise, the trace is unreadable
    doc = seed()
    doc["trace_id"] = doc["spans"][0]["trace_id"] = "5B8EFFF798038103D269B633813FC60C"
    trace_id, records = map_prela_trace(doc, "p")
    assert (trace_id, records[0].trace_id) == ("5b8efff798038103d269b633813fc60c",) * 2
