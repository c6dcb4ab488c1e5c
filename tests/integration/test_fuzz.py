"""Property-based fuzzing of the receivers, against a running `prela serve`.

For every generated request, over OTLP/HTTP (protobuf, OTLP/JSON, Prela JSON) and OTLP/gRPC:
the answer is a success or a client error (never 5xx, never INTERNAL/UNKNOWN), the server
stays up, and what it acknowledged is stored: a sample of the accepted traces is read back
through the query API with every accepted span, and the writer logs no span it had to skip.

The runs are deterministic (a fixed seed per test) so that CI is reproducible;
`PRELA_FUZZ_EXAMPLES=2000` explores with random seeds and that many examples per test.
"""

from __future__ import annotations

import base64
import json
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import orjson
import pytest
from google.rpc.status_pb2 import Status as RpcStatus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from bench.payloads import build_request
from prela.collector.mapping import map_export_request
from prela.collector.otlp_json import otlp_json_to_request
from prela.collector.prela_json import map_prela_trace
from prela.model import SpanRecord
from tests.conftest import PrelaServer
from tests.integration.test_bad_input import EXPORT

pytestmark = pytest.mark.integration

_EXPLORE = os.environ.get("PRELA_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_EXPLORE or 150),
    deadline=None,
    derandomize=_EXPLORE is None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
READ_BACK_SAMPLE = 25
READ_BACK_TIMEOUT_S = 30.0
# Same length as the invalid UTF-8 it is swapped for in the serialized bytes, so lengths stay valid.
UTF8_MARKER = "~~not-utf8~~"
INVALID_UTF8 = b"\xff\xfe\xc3\x28\xed\xa0\x80\xf8\x88\x80\x80\x80"
CONVENTION_KEYS = (
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.operation.name",
    "gen_ai.system",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cost",
    "llm.cost.total",
    "llm.cost.prompt",
    "llm.cost.completion",
    "gen_ai.prompt.0.content",
    "gen_ai.prompt.0.role",
    "gen_ai.completion.0.content",
    "llm.input_messages.0.message.content",
    "llm.invocation_parameters",
    "llm.token_count.prompt",
    "openinference.span.kind",
    "traceloop.span.kind",
    "prela.span_type",
    "input.value",
    "output.value",
    "model",
    "input_tokens",
    "cost_usd",
)
JSON_TEXTS = ("[" * 300 + "]" * 300, '{"model": 5}', '[{"role": "user", "content": "hi"}]', "{", "null")


# --- the acknowledged spans, and their read-back --------------------------------------------------


class Acknowledged:
    """Span ids per trace id that the server acknowledged; all must become readable."""

    def __init__(self) -> None:
        self.spans: dict[str, set[str]] = defaultdict(set)

    def add(self, records: Iterable[SpanRecord]) -> None:
        for record in records:
            self.spans[record.trace_id].add(record.span_id)

    def assert_readable(self, server: PrelaServer) -> None:
        traces = sorted(self.spans)
        sample = random.Random(0).sample(traces, min(READ_BACK_SAMPLE, len(traces)))
        deadline = time.monotonic() + READ_BACK_TIMEOUT_S
        missing: dict[str, set[str]] = {}
        for trace_id in sample:
            missing[trace_id] = set(self.spans[trace_id])
            while missing[trace_id] and time.monotonic() < deadline:
                response = httpx.get(
                    f"{server.query_url}/api/v1/traces/{quote(trace_id, safe='')}", timeout=10
                )
                assert response.status_code in (200, 404), (trace_id, response.status_code, response.text)
                if response.status_code == 200:
                    missing[trace_id] -= {span["span_id"] for span in response.json()["spans"]}
                if missing[trace_id]:
                    time.sleep(0.1)
        unread = {t: sorted(s) for t, s in missing.items() if s}
        assert not unread, f"acknowledged but not readable: {unread}"


@pytest.fixture
def acknowledged(prela_serve: PrelaServer) -> Iterator[Acknowledged]:
    """Read the sample back after the test; the server's log since its start has no crash and no skip."""
    log_start = len(prela_serve.log())
    spans = Acknowledged()
    yield spans
    spans.assert_readable(prela_serve)
    log = prela_serve.log()[log_start:]
    assert "Traceback" not in log, log[log.find("Traceback") :][:3000]
    assert "span cannot be stored" not in log, log[log.find("span cannot be stored") :][:1000]
    assert prela_serve.process.poll() is None


# --- sending, and what an answer must be ----------------------------------------------------------


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def grpc_export(prela_serve: PrelaServer) -> Iterator[Callable[[bytes], bytes]]:
    with grpc.insecure_channel(prela_serve.grpc_endpoint) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        yield lambda body: call(body, timeout=30)  # type: ignore[no-any-return]


def _mapped_otlp(request: ExportTraceServiceRequest) -> tuple[list[SpanRecord], int]:
    mapped = map_export_request(request, "fuzz")
    return mapped.records, mapped.rejected


def post_protobuf(server: PrelaServer, http: httpx.Client, body: bytes, acknowledged: Acknowledged) -> None:
    response = http.post(
        f"{server.ingest_url}/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
    )
    assert server.process.poll() is None, "prela serve died"
    assert response.status_code in (200, 400), (response.status_code, response.content[:500])
    assert response.headers["content-type"] == "application/x-protobuf"
    if response.status_code == 400:
        assert RpcStatus.FromString(response.content).message
        return
    records, rejected = _mapped_otlp(ExportTraceServiceRequest.FromString(body))
    assert ExportTraceServiceResponse.FromString(response.content).partial_success.rejected_spans == rejected
    acknowledged.add(records)


def send_grpc(
    server: PrelaServer, export: Callable[[bytes], bytes], body: bytes, acknowledged: Acknowledged
) -> None:
    try:
        reply = export(body)
    except grpc.RpcError as error:
        assert server.process.poll() is None, "prela serve died"
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
        return
    records, rejected = _mapped_otlp(ExportTraceServiceRequest.FromString(body))
    assert ExportTraceServiceResponse.FromString(reply).partial_success.rejected_spans == rejected
    acknowledged.add(records)


def post_json(server: PrelaServer, http: httpx.Client, body: bytes, acknowledged: Acknowledged) -> None:
    response = http.post(
        f"{server.ingest_url}/v1/traces", content=body, headers={"Content-Type": "application/json"}
    )
    assert server.process.poll() is None, "prela serve died"
    assert response.status_code in (200, 400), (response.status_code, response.content[:500])
    answer = response.json()  # every answer to a JSON request is JSON
    if response.status_code == 400:
        assert answer["message"], answer
        return
    doc = orjson.loads(body)
    if "status" in answer:  # a Prela trace
        trace_id, records = map_prela_trace(doc, "fuzz")
        assert answer == {"status": "accepted", "trace_id": trace_id}
    else:
        records, rejected = _mapped_otlp(otlp_json_to_request(doc))
        assert int(answer["partialSuccess"].get("rejectedSpans", 0)) == rejected
    acknowledged.add(records)


# --- strategies: OTLP protobuf ---------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=20),
    st.sampled_from(("", UTF8_MARKER, "\x00", "é😀", "a" * 300, *CONVENTION_KEYS, *JSON_TEXTS)),
)


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` about seven times in eight, else `rare` (the simplest draw, which hypothesis favours,
    is `usual`)."""
    return st.integers(0, 7).flatmap(lambda n: rare if n == 7 else usual)


def rarely(rare: st.SearchStrategy[Any], usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`rare` about one time in ten, else `usual`."""
    return st.integers(0, 9).flatmap(lambda n: rare if n == 9 else usual)


int64s = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from((0, -1, 2**63 - 1, -(2**63))))
uint64s = mostly(
    st.integers(1_700_000_000_000_000_000, 1_800_000_000_000_000_000),
    st.one_of(st.integers(0, 2**64 - 1), st.sampled_from((0, 2**63 - 1, 2**63, 2**64 - 1))),
)
int32s = st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(0, 6))
scalar_values = st.one_of(
    st.builds(lambda s: AnyValue(string_value=s), texts),
    st.builds(lambda i: AnyValue(int_value=i), int64s),
    st.builds(lambda d: AnyValue(double_value=d), st.floats()),
    st.builds(lambda b: AnyValue(bool_value=b), st.booleans()),
    st.builds(lambda b: AnyValue(bytes_value=b), st.binary(max_size=16)),
    st.just(AnyValue()),
)


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in pairs]))


any_values = st.recursive(
    scalar_values,
    lambda children: st.one_of(
        st.builds(lambda vs: AnyValue(array_value=ArrayValue(values=vs)), st.lists(children, max_size=3)),
        st.builds(_kvlist, st.lists(st.tuples(texts, children), max_size=3)),
    ),
    max_leaves=12,
)


def _add_nested_attribute(span: Span, depth: int) -> None:
    """An attribute `depth` arrays / kvlists deep, built in place (a copy would hit the decoder's limit)."""
    attribute = span.attributes.add(key="deep")
    value = attribute.value
    for level in range(depth):
        value = value.array_value.values.add() if level % 2 else value.kvlist_value.values.add(key="k").value
    value.string_value = "leaf"


attribute_lists = st.lists(
    st.builds(
        lambda k, v: KeyValue(key=k, value=v),
        texts,
        any_values,
    ),
    max_size=6,
)


@st.composite
def otlp_spans(draw: st.DrawFn) -> Span:
    span = Span(
        trace_id=draw(mostly(st.binary(min_size=16, max_size=16), st.binary(max_size=20))),
        span_id=draw(mostly(st.binary(min_size=8, max_size=8), st.binary(max_size=10))),
        parent_span_id=draw(
            mostly(st.one_of(st.just(b""), st.binary(min_size=8, max_size=8)), st.binary(max_size=10))
        ),
        trace_state=draw(texts),
        name=draw(texts),
        kind=draw(int32s),  # type: ignore[arg-type]
        start_time_unix_nano=draw(uint64s),
        end_time_unix_nano=draw(uint64s),
        attributes=draw(attribute_lists),
        dropped_attributes_count=draw(st.integers(0, 2**32 - 1)),
        flags=draw(st.integers(0, 2**32 - 1)),
    )
    for _ in range(draw(st.integers(0, 2))):
        event = span.events.add(time_unix_nano=draw(uint64s), name=draw(texts))
        event.attributes.extend(draw(attribute_lists))
    for _ in range(draw(st.integers(0, 2))):
        span.links.add(trace_id=draw(st.binary(max_size=17)), span_id=draw(st.binary(max_size=9)))
    span.status.CopyFrom(Status(code=draw(int32s), message=draw(texts)))  # type: ignore[arg-type]
    return span


@st.composite
def generated_requests(draw: st.DrawFn) -> bytes:
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(draw(attribute_lists))
        for _ in range(draw(st.integers(1, 2))):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = draw(texts)
            scope_spans.scope.attributes.extend(draw(attribute_lists))
            scope_spans.spans.extend(draw(st.lists(otlp_spans(), min_size=1, max_size=3)))
            for span in scope_spans.spans:
                if draw(st.integers(0, 4)) == 4:
                    _add_nested_attribute(span, draw(st.integers(1, 80)))
    return request.SerializeToString().replace(UTF8_MARKER.encode(), INVALID_UTF8)


def _sdk_request() -> bytes:
    """What the OTel Python SDK's OTLP exporters send for a small GenAI trace."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "fuzz-sdk"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("fuzz.instrumentation", "0.1")
    with (
        tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT"}),
        tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 3,
                "gen_ai.request.temperature": 0.2,
                "gen_ai.request.stop_sequences": ["\n", "END"],
                "stream": False,
            },
        ) as llm,
    ):
        llm.add_event("gen_ai.content.prompt", {"gen_ai.prompt": "hello"})
        llm.set_status(StatusCode.ERROR, "rate limited")
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans()).SerializeToString()  # type: ignore[no-any-return]


SDK_REQUEST = _sdk_request()
real_requests = st.one_of(
    st.just(SDK_REQUEST),
    st.builds(lambda seed: build_request(4, random.Random(seed)).SerializeToString(), st.integers(0, 2**32)),
)


@st.composite
def mutated(draw: st.DrawFn, bases: st.SearchStrategy[bytes]) -> bytes:
    """A real request with bytes flipped, inserted, deleted, duplicated or cut off."""
    data = bytearray(draw(bases))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(("flip", "set", "insert", "delete", "duplicate", "truncate")))
        if operation == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set":
            data[at] = draw(st.sampled_from((0x00, 0x7F, 0x80, 0xFF, 0x0A, 0x12, 0x1A, 0x22, 0x09, 0x11)))
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=12))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif operation == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


protobuf_bodies = st.one_of(
    mutated(real_requests),
    generated_requests(),
    mutated(generated_requests()),
)


@FUZZ
@given(body=protobuf_bodies)
def test_fuzzed_protobuf_over_http(
    prela_serve: PrelaServer, http: httpx.Client, acknowledged: Acknowledged, body: bytes
) -> None:
    post_protobuf(prela_serve, http, body, acknowledged)


@FUZZ
@given(body=protobuf_bodies)
def test_fuzzed_protobuf_over_grpc(
    prela_serve: PrelaServer,
    grpc_export: Callable[[bytes], bytes],
    acknowledged: Acknowledged,
    body: bytes,
) -> None:
    send_grpc(prela_serve, grpc_export, body, acknowledged)


# --- strategies: JSON ------------------------------------------------------------------------------

# Numbers no protobuf field or integer column holds, and the forms proto3 JSON does not allow.
edge_numbers = st.sampled_from(
    (1e300, -1e300, 2**64, 2**64 - 1, 2**63, -1, -(2**63) - 1, 1.5, 0.5, float(2**64), 10**19 + 0.5, True)
)
json_scalars = st.one_of(
    edge_numbers,
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(
        ("NaN", "-1", "1.5", "18446744073709551616", "1e300", " 5", "1_000", "\uff11\uff12", "0x10")
    ),
)
json_junk = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def sometimes_junk(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, one time in eight anything JSON can hold."""
    return mostly(valid, json_junk)


@st.composite
def objects(
    draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]], required: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """An object with some of `fields` (always the `required` ones), one time in eight one or two of
    them replaced by anything JSON can hold."""
    names = sorted(fields)
    present = draw(st.sets(st.sampled_from(names))) | required
    junk = draw(mostly(st.just(frozenset()), st.frozensets(st.sampled_from(names), min_size=1, max_size=2)))
    return {name: draw(json_junk if name in junk else fields[name]) for name in sorted(present | junk)}


def _hex(size: int) -> st.SearchStrategy[str]:
    return mostly(
        st.binary(min_size=size, max_size=size).map(bytes.hex),
        st.one_of(
            st.binary(min_size=size, max_size=size).map(lambda b: b.hex().upper()),
            st.binary(max_size=size + 2).map(bytes.hex),
        ),
    )


def _json_number(values: st.SearchStrategy[int]) -> st.SearchStrategy[Any]:
    """proto3 JSON writes 64-bit integers as strings; numbers are accepted too (and edge cases)."""
    return mostly(st.one_of(values, values.map(str), values.map(float)), edge_numbers)


json_any_values = st.recursive(
    st.one_of(
        st.builds(lambda s: {"stringValue": s}, texts),
        st.builds(lambda i: {"intValue": i}, _json_number(int64s)),
        st.builds(lambda d: {"doubleValue": d}, st.one_of(st.floats(allow_nan=False), st.just("NaN"))),
        st.builds(lambda b: {"boolValue": b}, st.booleans()),
        st.builds(lambda b: {"bytesValue": base64.b64encode(b).decode()}, st.binary(max_size=8)),
        st.builds(dict),
    ),
    lambda children: st.one_of(
        st.builds(
            lambda vs: {"arrayValue": {"values": vs}}, st.lists(rarely(json_junk, children), max_size=3)
        ),
        st.builds(
            lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}},
            st.lists(st.tuples(texts, children), max_size=3),
        ),
    ),
    max_leaves=10,
)


class NestedAnyValue:
    """An AnyValue `depth` arrays deep, expanded only when the body is written (so that a failing
    example prints as `NestedAnyValue(280)`, not as a structure too deep to print)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def __repr__(self) -> str:
        return f"NestedAnyValue({self.depth})"

    def expand(self) -> dict[str, Any]:
        value: dict[str, Any] = {"stringValue": "leaf"}
        for _ in range(self.depth):
            value = {"arrayValue": {"values": [value]}}
        return value


json_attributes = st.lists(
    st.builds(
        lambda k, v: {"key": k, "value": v},
        texts,
        rarely(st.one_of(json_junk, st.builds(NestedAnyValue, st.integers(60, 300))), json_any_values),
    ),
    max_size=5,
)


OTLP_JSON_SPAN_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "traceId": _hex(16),
    "spanId": _hex(8),
    "parentSpanId": st.one_of(st.just(""), _hex(8)),
    "name": texts,
    "kind": mostly(st.integers(0, 5), st.sampled_from(("SPAN_KIND_CLIENT", 6, -1, 2.0))),
    "startTimeUnixNano": _json_number(uint64s),
    "endTimeUnixNano": _json_number(uint64s),
    "flags": mostly(st.integers(0, 2**32 - 1), st.integers(-1, 2**33)),
    "droppedAttributesCount": mostly(st.integers(0, 2**32 - 1), st.integers(-1, 2**33)),
    "attributes": json_attributes,
    "events": st.lists(
        st.fixed_dictionaries({"timeUnixNano": _json_number(uint64s), "name": texts}), max_size=2
    ),
    "links": st.lists(st.fixed_dictionaries({"traceId": _hex(16), "spanId": _hex(8)}), max_size=2),
    "status": st.fixed_dictionaries(
        {"code": mostly(st.integers(0, 2), st.integers(-1, 3)), "message": texts}
    ),
}
otlp_json_spans = objects(OTLP_JSON_SPAN_FIELDS, frozenset(("traceId", "spanId", "startTimeUnixNano")))


otlp_json_docs = st.builds(
    lambda resource, spans: {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": spans}]}]
    },
    sometimes_junk(st.fixed_dictionaries({"attributes": json_attributes})),
    sometimes_junk(st.lists(otlp_json_spans, min_size=1, max_size=4)),
)


def _json_body(doc: Any) -> bytes:
    # The stdlib writes what orjson would refuse to (NaN, integers beyond 64 bits): good input here.
    return json.dumps(doc, default=NestedAnyValue.expand).encode()


@FUZZ
@given(doc=otlp_json_docs)
def test_fuzzed_otlp_json(
    prela_serve: PrelaServer, http: httpx.Client, acknowledged: Acknowledged, doc: dict[str, Any]
) -> None:
    post_json(prela_serve, http, _json_body(doc), acknowledged)


RUN = os.urandom(3).hex()  # Prela ids are the sender's: keep this run's apart from other tests'
storable_times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2262, 4, 10), timezones=st.just(UTC)
)
timestamps = mostly(
    st.one_of(
        storable_times.map(lambda d: d.isoformat()),
        storable_times.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"),
        storable_times.map(lambda d: d.timestamp()),
        st.integers(1_700_000_000_000, 1_800_000_000_000),
        st.integers(1_700_000_000, 1_800_000_000).map(lambda s: f"{s}.123456789"),
    ),
    st.one_of(
        st.datetimes().map(lambda d: d.isoformat() + "Z"),
        st.floats(min_value=-1e20, max_value=1e20),
        st.integers(-(2**63), 2**64),
        st.sampled_from(("9999-12-31T00:00:00Z", "2262-04-11T23:47:16.854775807Z", "1969-12-31T23:59:59Z")),
    ),
)
prela_ids = st.text(st.characters(codec="utf-8", exclude_categories=("C",)), min_size=1, max_size=40)
prela_attributes = st.dictionaries(
    st.one_of(st.sampled_from(CONVENTION_KEYS), st.text(max_size=10)),
    st.one_of(json_junk, st.sampled_from(JSON_TEXTS), st.integers(0, 2**64 - 1)),
    max_size=5,
)
PRELA_SPAN_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "span_id": prela_ids,
    "parent_span_id": prela_ids,
    "name": st.text(min_size=1, max_size=20),
    "span_type": st.sampled_from(("LLM", "tool", "retriever", "AGENT", "WIDGET")),
    "kind": st.sampled_from(("CLIENT", "SPAN_KIND_SERVER", "internal", "SIDEWAYS")),
    "started_at": timestamps,
    "ended_at": timestamps,
    "duration_ms": mostly(st.floats(min_value=0, max_value=1e7), st.integers(0, 2**64)),
    "status": st.sampled_from(("SUCCESS", "ERROR", "ok")),
    "attributes": prela_attributes,
    "events": st.lists(st.fixed_dictionaries({"name": texts, "timestamp": timestamps}), max_size=2),
    "input_tokens": mostly(st.integers(0, 10**6), st.integers(0, 2**64)),
    "output_tokens": st.integers(0, 2**63),
    "cost_usd": st.floats(min_value=0, allow_infinity=False),
    "model": st.sampled_from(("gpt-4o", "claude-3-5-sonnet", "")),
    "input": json_junk,
    "output": st.one_of(json_junk, st.sampled_from(JSON_TEXTS)),
}
prela_spans = objects(PRELA_SPAN_FIELDS, frozenset(("span_id", "name", "started_at")))


@st.composite
def prela_traces(draw: st.DrawFn) -> dict[str, Any]:
    trace_id = f"fuzz-{RUN}-{draw(prela_ids)}"
    doc = draw(
        objects(
            {
                "trace_id": st.just(trace_id),
                "service_name": texts,
                "spans": st.lists(prela_spans, min_size=1, max_size=3),
                "started_at": timestamps,
                "completed_at": timestamps,
                "status": st.sampled_from(("SUCCESS", "ERROR", "running")),
                "duration_ms": st.integers(0, 10**6),
            },
            frozenset(("trace_id", "spans")),
        )
    )
    if isinstance(doc.get("spans"), list):
        for span in doc["spans"]:
            if isinstance(span, dict) and draw(st.booleans()):
                span["trace_id"] = doc["trace_id"]
    if draw(st.integers(0, 9)) == 9:
        doc.pop("spans")
    return doc


@FUZZ
@given(doc=prela_traces())
def test_fuzzed_prela_json(
    prela_serve: PrelaServer, http: httpx.Client, acknowledged: Acknowledged, doc: dict[str, Any]
) -> None:
    post_json(prela_serve, http, _json_body(doc), acknowledged)
