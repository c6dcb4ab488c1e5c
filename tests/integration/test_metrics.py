"""`/metrics` of `prela serve` counts exactly what was sent and refused, by transport and reason."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PrelaServer, start_prela_serve
from tests.integration.test_bad_input import grpc_export, post, request_of, span

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fresh_serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrelaServer]:
    server = start_prela_serve(tmp_path_factory.mktemp("metrics") / "data")
    yield server
    server.stop()


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def test_receiver_counters_match_what_was_sent_and_refused(fresh_serve: PrelaServer) -> None:
    for _ in range(3):  # 3 x 4 spans over gRPC
        grpc_export(
            fresh_serve,
            request_of(*(span(os.urandom(16), os.urandom(8)) for _ in range(4))).SerializeToString(),
        )
    for _ in range(2):  # 2 x 5 spans over HTTP
        body = request_of(*(span(os.urandom(16), os.urandom(8)) for _ in range(5))).SerializeToString()
        assert post(fresh_serve, body, "application/x-protobuf").status_code == 200
    partial = request_of(span(os.urandom(16), os.urandom(8)), span(b"\x01", os.urandom(8)))
    assert post(fresh_serve, partial.SerializeToString(), "application/x-protobuf").status_code == 200
    assert post(fresh_serve, b"\xff\xff garbage", "application/x-protobuf").status_code == 400
    assert post(fresh_serve, b"{", "application/json").status_code == 400
    bomb = gzip.compress(b"\0" * (17 * 1024 * 1024))
    assert (
        post(fresh_serve, bomb, "application/x-protobuf", **{"Content-Encoding": "gzip"}).status_code == 413
    )
    assert post(fresh_serve, b"x", "text/plain").status_code == 415
    with pytest.raises(grpc.RpcError):
        grpc_export(fresh_serve, b"\xff\xff garbage")

    deadline = time.monotonic() + 20  # spans are stored within the writer's linger after the answer
    while value(m := samples(f"{fresh_serve.ingest_url}/metrics"), "prela_writer_inserted_spans_total") < 23:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert value(m, "prela_receiver_accepted_spans_total", transport="grpc") == 12
    assert value(m, "prela_receiver_accepted_spans_total", transport="http") == 11
    assert value(m, "prela_receiver_refused_spans_total", transport="http", reason="invalid_span") == 1
    assert value(m, "prela_receiver_refused_requests_total", transport="http", reason="decode") == 2
    assert value(m, "prela_receiver_refused_requests_total", transport="http", reason="too_large") == 1
    assert (
        value(m, "prela_receiver_refused_requests_total", transport="http", reason="unsupported_media") == 1
    )
    assert value(m, "prela_receiver_refused_requests_total", transport="grpc", reason="decode") == 1
    assert value(m, "prela_receiver_request_duration_seconds_count", transport="grpc") == 4
    assert value(m, "prela_writer_inserted_spans_total") == 23
    assert value(m, "prela_queue_capacity_spans") == 50_000
    assert value(m, "prela_queue_spans") == 0
    assert value(m, "prela_queue_oldest_age_seconds") == 0
    # Every request passed admission first (the refused ones too: they were refused after it), at once.
    assert value(m, "prela_admission_wait_seconds_count") >= 4 + 4
    assert value(m, "prela_admission_wait_seconds_sum") < 1
    assert value(m, "prela_admission_in_flight_bytes") == 0
    assert value(m, "prela_admission_oldest_wait_seconds") == 0
    assert not any("trace_id" in dict(labels) or "project_id" in dict(labels) for _, labels in m)


def test_query_metrics_use_route_templates(fresh_serve: PrelaServer) -> None:
    httpx.get(f"{fresh_serve.query_url}/api/v1/traces")
    httpx.get(f"{fresh_serve.query_url}/api/v1/traces/{'ab' * 16}")
    httpx.get(f"{fresh_serve.query_url}/api/v1/traces/{'cd' * 16}")
    m = samples(f"{fresh_serve.query_url}/metrics")
    assert value(m, "prela_query_requests_total", route="/api/v1/traces", status="200") == 1
    assert value(m, "prela_query_requests_total", route="/api/v1/traces/{trace_id:path}", status="404") == 2
    assert value(m, "prela_query_request_duration_seconds_count", route="/api/v1/traces") == 1


def test_ready_reports_each_dependency(fresh_serve: PrelaServer) -> None:
    response = httpx.get(f"{fresh_serve.ingest_url}/ready")
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "clickhouse": "ok", "store": "ok"},
    )
    assert httpx.get(f"{fresh_serve.query_url}/ready").status_code == 200


def test_startup_log_shows_configuration_without_secrets(tmp_path: Path) -> None:
    server = start_prela_serve(
        tmp_path / "data",
        env={"KAFKA_PASSWORD": "kafka-secret-value", "CLICKHOUSE_PASSWORD": "ch-secret-value"},
    )
    server.stop()
    log = server.log()
    assert "starting role=serve" in log and "'ttl_days': 90" in log
    assert "kafka-secret-value" not in log and "ch-secret-value" not in log
