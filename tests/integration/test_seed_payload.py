"""The seed's "Send Test Trace" step, byte for byte, round-trips through ingest and the query API."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import PrelaServer
from tests.integration.test_otel_exporters import wait_for_trace

pytestmark = pytest.mark.integration

# Exactly the body of the deployment guide's curl command.
SEED_PAYLOAD = b"""{
    "trace_id": "test-production-123",
    "service_name": "test-service",
    "started_at": "2025-01-27T10:00:00Z",
    "completed_at": "2025-01-27T10:00:01Z",
    "duration_ms": 1000,
    "status": "SUCCESS",
    "spans": [
      {
        "span_id": "span-1",
        "trace_id": "test-production-123",
        "name": "test-operation",
        "span_type": "LLM",
        "started_at": "2025-01-27T10:00:00Z",
        "ended_at": "2025-01-27T10:00:01Z",
        "duration_ms": 1000,
        "status": "SUCCESS",
        "attributes": {"model": "gpt-4"},
        "events": []
      }
    ]
  }"""


def test_seed_curl_payload_is_accepted_with_the_seed_answer(prela_serve: PrelaServer) -> None:
    response = httpx.post(
        f"{prela_serve.ingest_url}/v1/traces",
        content=SEED_PAYLOAD,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "trace_id": "test-production-123"}


def test_seed_trace_reads_back_in_the_seed_shape(prela_serve: PrelaServer) -> None:
    httpx.post(
        f"{prela_serve.ingest_url}/v1/traces",
        content=SEED_PAYLOAD,
        headers={"Content-Type": "application/json"},
    ).raise_for_status()
    trace = wait_for_trace(prela_serve, "test-production-123", 1)
    assert {
        k: trace[k]
        for k in ("trace_id", "service_name", "started_at", "completed_at", "duration_ms", "status")
    } == {
        "trace_id": "test-production-123",
        "service_name": "test-service",
        "started_at": "2025-01-27T10:00:00Z",
        "completed_at": "2025-01-27T10:00:01Z",
        "duration_ms": 1000,
        "status": "SUCCESS",
    }
    [span] = trace["spans"]
    assert {k: span[k] for k in ("span_id", "trace_id", "name", "span_type", "started_at", "ended_at")} == {
        "span_id": "span-1",
        "trace_id": "test-production-123",
        "name": "test-operation",
        "span_type": "LLM",
        "started_at": "2025-01-27T10:00:00Z",
        "ended_at": "2025-01-27T10:00:01Z",
    }
    assert (span["duration_ms"], span["status"], span["parent_span_id"]) == (1000, "SUCCESS", None)
    assert (span["attributes"], span["events"], span["model"]) == ({"model": "gpt-4"}, [], "gpt-4")
    # Re-sending is folded into the same single span.
    assert trace["span_count"] == 1


def test_seed_trace_is_listed(prela_serve: PrelaServer) -> None:
    httpx.post(
        f"{prela_serve.ingest_url}/v1/traces",
        content=SEED_PAYLOAD,
        headers={"Content-Type": "application/json"},
    ).raise_for_status()
    wait_for_trace(prela_serve, "test-production-123", 1)
    traces = httpx.get(f"{prela_serve.query_url}/api/v1/traces", params={"service": "test-service"}).json()[
        "traces"
    ]
    assert [t["trace_id"] for t in traces] == ["test-production-123"]
    assert traces[0]["models"] == ["gpt-4"]
