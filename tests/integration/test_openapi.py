"""The query API keeps to its OpenAPI document: schemathesis against a running `prela serve`.

Every operation of the served document is called with generated requests (valid and invalid ones);
no answer may be a server error, and each must be a documented status code with the documented
content type, body schema and headers. The traces sent first carry sessions, users, environments
and LLM fields, so lists, stats and details answer with real rows.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from prela.query.openapi import load_document
from tests.conftest import PrelaServer, start_prela_serve
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# 25 fixed examples per operation and mode in CI; PRELA_OPENAPI_EXAMPLES=500 explores further, at random.
MAX_EXAMPLES = int(os.environ.get("PRELA_OPENAPI_EXAMPLES", "25"))
SESSION = "sess-openapi-1"


def rfc3339(ns: int) -> str:
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def agent_trace(start_ns: int, user: str, error: bool = False) -> dict[str, Any]:
    """A trace in the seed's Prela JSON: an agent span and its LLM call, in one session."""
    trace_id = os.urandom(16).hex()
    agent, llm = os.urandom(8).hex(), os.urandom(8).hex()
    context = {"session.id": SESSION, "user.id": user, "deployment.environment": "test"}
    return {
        "trace_id": trace_id,
        "service_name": "openapi-svc",
        "started_at": rfc3339(start_ns),
        "spans": [
            {
                "span_id": agent,
                "name": "answer question",
                "span_type": "AGENT",
                "started_at": rfc3339(start_ns),
                "ended_at": rfc3339(start_ns + 900_000_000),
                "status": "ERROR" if error else "SUCCESS",
                "status_message": "rate limited" if error else "",
                "attributes": context,
                "links": [{"trace_id": os.urandom(16).hex(), "span_id": os.urandom(8).hex()}],
            },
            {
                "span_id": llm,
                "parent_span_id": agent,
                "name": "chat gpt-4o",
                "span_type": "LLM",
                "kind": "CLIENT",
                "started_at": rfc3339(start_ns + 100_000_000),
                "ended_at": rfc3339(start_ns + 800_000_000),
                "status": "SUCCESS",
                "model": "gpt-4o",
                "provider": "openai",
                "input_tokens": 120,
                "output_tokens": 30,
                "input": [{"role": "user", "content": "What is the capital of France?"}],
                "output": [{"role": "assistant", "content": "Paris."}],
                "attributes": context,
                "events": [{"name": "first token", "timestamp": rfc3339(start_ns + 300_000_000)}],
            },
        ],
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrelaServer]:
    """Its own `prela serve` (it creates API keys and sends generated requests), with three traces."""
    server = start_prela_serve(tmp_path_factory.mktemp("openapi") / "data")
    now = time.time_ns()
    traces = [
        agent_trace(now - 600_000_000_000, "alice"),
        agent_trace(now - 300_000_000_000, "bob", error=True),
        agent_trace(now - 60_000_000_000, "alice"),
    ]
    for trace in traces:
        httpx.post(f"{server.ingest_url}/v1/traces", json=trace, timeout=30).raise_for_status()
    for trace in traces:
        wait_for_trace(server, trace["trace_id"], 2)
    server.trace_ids = [t["trace_id"] for t in traces]  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(served: PrelaServer) -> Any:
    """The document as the server serves it."""
    return schemathesis.openapi.from_url(f"{served.query_url}/api/v1/openapi.json")


DOCUMENT = load_document()
OPERATIONS = [
    (path, method.upper())
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if method != "parameters"
]
# Negative requests need something to break: operations without parameters or body are called as they are.
CASES = [
    (path, method, mode)
    for path, method in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE
    or {"parameters", "requestBody"} & {*DOCUMENT["paths"][path], *DOCUMENT["paths"][path][method.lower()]}
]


# Not `schemathesis.pytest.from_fixture`: its lazy loader fails on pytest 9 (it sets a node's `_nodeid`).
@pytest.mark.parametrize(("path", "method", "mode"), CASES, ids=[f"{m} {p} {g.value}" for p, m, g in CASES])
def test_every_answer_keeps_to_the_document(
    api_schema: Any, path: str, method: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize="PRELA_OPENAPI_EXAMPLES" not in os.environ,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    call()


def validate(api_schema: Any, path: str, response: httpx.Response) -> dict[str, Any]:
    """The response passes the document's checks for GET `path`; its JSON body."""
    operation = api_schema[path]["GET"]
    case = operation.Case()
    case.validate_response(response, checks=CHECKS)
    body: dict[str, Any] = response.json()
    return body


def test_real_rows_keep_to_the_document(served: PrelaServer, api_schema: Any) -> None:
    """The answers with data in them (a generated request rarely names a real trace or session)."""
    url = served.query_url + "/api/v1"
    trace_id = served.trace_ids[0]  # type: ignore[attr-defined]

    traces = validate(api_schema, "/api/v1/traces", httpx.get(f"{url}/traces", params={"limit": 2}))
    assert len(traces["traces"]) == 2 and traces["next_cursor"] is not None
    page = httpx.get(f"{url}/traces", params={"limit": 2, "cursor": traces["next_cursor"]})
    assert len(validate(api_schema, "/api/v1/traces", page)["traces"]) == 1
    ranked = httpx.get(f"{url}/traces", params={"sort": "cost", "limit": 1})
    assert validate(api_schema, "/api/v1/traces", ranked)["next_cursor"] is not None

    detail = validate(api_schema, "/api/v1/traces/{trace_id}", httpx.get(f"{url}/traces/{trace_id}"))
    assert [s["parent_span_id"] is None for s in detail["spans"]] == [True, False]
    assert detail["session_id"] == SESSION and detail["cost_usd"] > 0

    spans = httpx.get(f"{url}/spans", params={"include": "content", "session_id": SESSION})
    assert len(validate(api_schema, "/api/v1/spans", spans)["spans"]) == 6

    for group_by in ("none", "model", "user"):
        stats = httpx.get(f"{url}/stats", params={"group_by": group_by, "interval": "1h"})
        assert validate(api_schema, "/api/v1/stats", stats)["totals"]["count"] > 0

    sessions = validate(api_schema, "/api/v1/sessions", httpx.get(f"{url}/sessions"))
    assert [s["session_id"] for s in sessions["sessions"]] == [SESSION]
    session = httpx.get(f"{url}/sessions/{SESSION}")
    assert len(validate(api_schema, "/api/v1/sessions/{session_id}", session)["traces"]) == 3
    users = validate(api_schema, "/api/v1/users", httpx.get(f"{url}/users"))
    assert sorted(u["user_id"] for u in users["users"]) == ["alice", "bob"]


def cursor(*key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "params", "error"),
    [
        ("/api/v1/traces", {"limit": "²"}, "limit must be an integer from 1 to 1000, got '²'"),
        (
            "/api/v1/spans",
            {"since": "9" * 400 + ".5"},
            f"since: '{'9' * 400}.5' is out of range: a timestamp must be from 1970-01-01T00:00:00Z "
            "to 2262-04-11T23:47:16.854775807Z",
        ),
        ("/api/v1/traces", {"sort": "cost", "cursor": cursor("abc", "x")}, None),
        ("/api/v1/traces", {"sort": "cost", "cursor": cursor("NaN", "x")}, None),
        ("/api/v1/traces", {"sort": "cost", "cursor": cursor("1e999999", "x")}, None),
        ("/api/v1/stats", {"max_duration_ms": "5"}, None),
    ],
    ids=[
        "unicode-digit-limit",
        "overflowing-epoch",
        "cost-cursor-text",
        "cost-cursor-nan",
        "cost-cursor-huge",
        "stats-max-duration",
    ],
)
def test_crafted_inputs_are_refused_with_400(
    served: PrelaServer, api_schema: Any, path: str, params: dict[str, str], error: str | None
) -> None:
    """Inputs that once answered 500 (or 503, or were silently ignored): now a documented 400."""
    response = httpx.get(served.query_url + path, params=params, timeout=30)
    body = validate(api_schema, path, response)
    assert response.status_code == 400
    if error is None:
        error = (
            f"cursor {params['cursor']!r} is not one this API returned for this sort"
            if "cursor" in params
            else "stats filter on service, span_type, model, provider, status, environment, user_id"
        )
    assert body == {"error": error}


def test_a_path_no_route_matches_is_a_json_404(served: PrelaServer, api_schema: Any) -> None:
    """A trace id with a newline matches no route: still the documented JSON 404, not Starlette's text."""
    response = httpx.get(f"{served.query_url}/api/v1/traces/a%0Ab", timeout=30)
    assert validate(api_schema, "/api/v1/traces/{trace_id}", response) == {"error": "Not Found"}
    assert response.status_code == 404
