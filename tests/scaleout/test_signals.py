"""OTLP logs and metrics in scale-out mode: collector → Kafka topics `logs` / `metrics` → writer → ClickHouse,
read back by the query role with the GenAI content joined to its span."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.scaleout.conftest import (
    Broker,
    role_env,
    start_collector,
    start_role,
    start_writer,
    wait_http,
    wait_inserted,
)

pytestmark = pytest.mark.integration


def kv(key: str, text: str) -> dict[str, object]:
    return {"key": key, "value": {"stringValue": text}}


def test_logs_and_metrics_travel_their_topics_and_join_their_span(broker: Broker, tmp_path: Path) -> None:
    collector = start_collector(broker, tmp_path)
    writer = start_writer(broker, tmp_path / "ch", tmp_path)
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    now = time.time_ns()
    choice = {"kvlistValue": {"values": [{"key": "index", "value": {"intValue": "0"}}, {"key": "message", "value": {"kvlistValue": {"values": [kv("content", "Hello")]}}}]}}  # fmt: skip
    logs = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(now),
                                "eventName": "gen_ai.user.message",
                                "traceId": trace_id,
                                "spanId": span_id,
                                "body": {"kvlistValue": {"values": [kv("content", "Hi")]}},
                            },
                            {
                                "timeUnixNano": str(now + 1),
                                "eventName": "gen_ai.choice",
                                "traceId": trace_id,
                                "spanId": span_id,
                                "body": choice,
                            },
                        ]
                    }
                ]
            }
        ]
    }
    spans = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "chat m",
                                "startTimeUnixNano": str(now),
                                "endTimeUnixNano": str(now + 1000),
                                "attributes": [kv("gen_ai.operation.name", "chat")],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    gauge = {"name": "queue.depth", "gauge": {"dataPoints": [{"timeUnixNano": str(now), "asDouble": 3.0}]}}
    try:
        for path, body in (("/v1/logs", logs), ("/v1/metrics", {"resourceMetrics": [{"scopeMetrics": [{"metrics": [gauge]}]}]}), ("/v1/traces", spans)):  # fmt: skip
            response = httpx.post(f"{collector.url('http')}{path}", json=body, timeout=30)
            assert response.status_code == 200, response.text
        stats = wait_inserted(writer, 1)
        assert stats["lag"].keys() >= {"logs/0", "metrics/0"}
    finally:
        collector.stop()
        assert writer.stop() == 0

    port = free_port()
    query = start_role(
        "query", ["--port", str(port)], role_env(broker, CLICKHOUSE_URL=f"chdb://{tmp_path / 'ch'}"), tmp_path,
        {"api": port},
    )  # fmt: skip
    try:
        wait_http(query, f"{query.url('api')}/api/v1/health", 60)
        trace = httpx.get(f"{query.url('api')}/api/v1/traces/{trace_id}", timeout=10).json()
        assert json.loads(trace["spans"][0]["input"]) == [
            {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
        ]
        assert json.loads(trace["spans"][0]["output"]) == [
            {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}
        ]
        assert [log["event_name"] for log in trace["logs"]] == ["gen_ai.user.message", "gen_ai.choice"]
        metrics = httpx.get(f"{query.url('api')}/api/v1/metrics", timeout=10).json()["metrics"]
        assert [(m["name"], m["type"], m["points"]) for m in metrics] == [("queue.depth", "gauge", 1)]
    finally:
        assert query.stop() == 0
