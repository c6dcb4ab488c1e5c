"""Listeners are checked before any server starts; each refusal names the address and what to change."""

from __future__ import annotations

import socket

import pytest

from prela.server.runtime import Listener, ListenerUnavailable, check_listeners, role_listeners
from prela.server.settings import Settings


def test_a_free_port_passes_and_is_released() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    check_listeners([Listener("127.0.0.1", port, "--query-port", "PRELA_QUERY_PORT")])
    with socket.socket() as again:  # nothing is left holding it
        again.bind(("127.0.0.1", port))


def test_an_address_that_is_not_ours_names_the_host_setting() -> None:
    with pytest.raises(ListenerUnavailable) as refused:
        check_listeners([Listener("192.0.2.1", 4318, "--otlp-http-port", "PRELA_OTLP_HTTP_PORT")])
    assert str(refused.value) == (
        "cannot listen on 192.0.2.1:4318 (Cannot assign requested address): pass another --host or set PRELA_HOST"
    )


def test_port_zero_is_left_to_the_system() -> None:
    check_listeners([Listener("127.0.0.1", 0, "--query-port", "PRELA_QUERY_PORT")])


def test_each_role_checks_exactly_its_own_ports() -> None:
    settings = Settings().with_overrides(
        host="127.0.0.1", otlp_grpc_port=1, otlp_http_port=2, query_port=3, metrics_port=4, workers=1
    )
    roles = ("serve", "collector", "query", "writer")
    flags = {role: [(lsn.port, lsn.flag) for lsn in role_listeners(settings, role)] for role in roles}
    assert flags == {
        "serve": [(1, "--otlp-grpc-port"), (2, "--otlp-http-port"), (3, "--query-port")],
        "collector": [(1, "--otlp-grpc-port"), (2, "--otlp-http-port")],
        "query": [(3, "--port")],
        "writer": [(4, "--metrics-port")],
    }


def test_writer_workers_each_check_their_own_metrics_port() -> None:
    settings = Settings().with_overrides(host="127.0.0.1", metrics_port=9464, workers=3)
    assert [lsn.port for lsn in role_listeners(settings, "writer")] == [9464, 9465, 9466]
    # the OTLP ports are shared by the workers: checked once; each worker has its own metrics port
    assert [lsn.port for lsn in role_listeners(settings, "collector")] == [4317, 4318, 9464, 9465, 9466]


def test_a_port_another_program_shares_with_so_reuseport_is_still_taken() -> None:
    """Workers share their ports with SO_REUSEPORT; the check binds without it, so another program's
    listener (SO_REUSEPORT or not) is refused rather than silently joined."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = int(other.getsockname()[1])
        with pytest.raises(ListenerUnavailable) as refused:
            check_listeners([Listener("127.0.0.1", port, "--otlp-http-port", "PRELA_OTLP_HTTP_PORT")])
    assert str(refused.value) == (
        f"port 127.0.0.1:{port} is in use: pass --otlp-http-port or set PRELA_OTLP_HTTP_PORT"
    )


def test_workers_default_to_the_cores_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("PRELA_WORKERS", raising=False)
    assert Settings().workers == len(os.sched_getaffinity(0))
    monkeypatch.setenv("PRELA_WORKERS", "3")
    assert Settings().workers == 3


def test_a_worker_port_beyond_65535_is_refused_naming_the_flag() -> None:
    settings = Settings().with_overrides(host="127.0.0.1", metrics_port=65535, workers=2)
    with pytest.raises(ListenerUnavailable) as refused:
        check_listeners(role_listeners(settings, "writer"))
    assert str(refused.value) == "port 65536 is beyond 65535: pass --metrics-port or set PRELA_METRICS_PORT"
