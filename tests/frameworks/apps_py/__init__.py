"""The Python framework apps the tests run as subprocesses, and the reads the tests make.

Each app is a small program as a user would write it: it configures the library's own OpenTelemetry
set-up, calls the fake LLM server and exports with the official OTLP exporters to `prela serve`.
A subprocess per app keeps each library's process-wide state (global tracer providers, patched
clients, registered callbacks) out of the test process and away from the other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from prela.model.timestamps import parse_timestamp
from tests.conftest import PrelaServer

REPO_ROOT = Path(__file__).resolve().parents[3]


def run_app(module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Any:
    """Run `tests.frameworks.apps_py.<module>`; returns the JSON its last stdout line prints."""
    result = subprocess.run(
        [sys.executable, "-m", f"tests.frameworks.apps_py.{module}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"{module} exited {result.returncode}:\n{result.stderr[-6000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def trace_ids_of_service(server: PrelaServer, service: str, count: int, timeout: float = 20) -> list[str]:
    """The ids of the `count` traces of `service`, oldest first, once the list shows them all."""
    deadline = time.monotonic() + timeout
    listed: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.query_url}/api/v1/traces", params={"service": service}, timeout=5)
        assert response.status_code == 200, response.text
        listed = response.json()["traces"]
        if len(listed) >= count:
            return [t["trace_id"] for t in sorted(listed, key=lambda t: parse_timestamp(t["started_at"]))]
        time.sleep(0.1)
    raise AssertionError(f"service {service} listed {len(listed)} traces, expected {count}: {listed}")


def trace_summary(server: PrelaServer, trace_id: str, service: str) -> dict[str, Any]:
    """The trace as `GET /api/v1/traces` lists it."""
    response = httpx.get(f"{server.query_url}/api/v1/traces", params={"service": service}, timeout=5)
    (summary,) = [t for t in response.json()["traces"] if t["trace_id"] == trace_id]
    return summary  # type: ignore[no-any-return]


def spans_named(trace: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The trace's spans called `name`, in start order."""
    return sorted(
        (s for s in trace["spans"] if s["name"] == name), key=lambda s: parse_timestamp(s["started_at"])
    )


def json_content(span: dict[str, Any], field: str) -> Any:
    """A span's `input` / `output` parsed as JSON."""
    return json.loads(span[field])
