"""SDK test fixtures: every test starts and ends without a global tracer provider."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import prela


@pytest.fixture(autouse=True)
def fresh_global_provider() -> Iterator[None]:
    """OpenTelemetry lets a process set its provider once; `prela.testing.reset()` undoes it."""
    prela.testing.reset()
    yield
    prela.testing.reset()


def wait_for_trace(query_url: str, trace_id: str, spans: int, timeout: float = 15) -> dict[str, Any]:
    """Poll the query API until the trace has `spans` spans; return it."""
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        response = httpx.get(f"{query_url}/api/v1/traces/{trace_id}", timeout=5)
        if response.status_code == 200:
            body = response.json()
            if len(body["spans"]) >= spans:
                return body  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} did not reach {spans} spans in {timeout}s: {body}")


def spans_by_name(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for span in trace["spans"]}
