"""The `--workers` supervisor's policy, on real child processes (tiny Python programs)."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import pytest

from prela.server.settings import Settings
from prela.server.workers import WorkerPool, role_arguments, worker_command


def program(code: str) -> list[str]:
    return [sys.executable, "-c", code]


SLEEPS_UNTIL_SIGTERM = program(
    "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\ntime.sleep(60)"
)


async def test_workers_run_until_stopped_and_a_clean_drain_is_success() -> None:
    pool = WorkerPool("test", range(2), drain_timeout_s=5, command=lambda i: SLEEPS_UNTIL_SIGTERM)
    pool.start()
    await asyncio.sleep(0.5)
    assert await pool.stop() is True
    assert pool.failed is False


async def test_a_worker_that_dies_is_logged_restarted_and_counted_as_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "ran-once"
    # First run: dies with exit 3. Second run: behaves.
    dies_once = program(
        f"import pathlib, signal, sys, time\np = pathlib.Path({str(marker)!r})\n"
        "if not p.exists():\n    p.touch()\n    sys.exit(3)\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\ntime.sleep(60)"
    )
    caplog.set_level(logging.INFO, logger="prela.server.workers")
    pool = WorkerPool("test", [1], drain_timeout_s=5, command=lambda i: dies_once)
    pool.start()
    for _ in range(100):  # the first back-off is 1 s
        if sum("worker started role=test worker=1" in r.getMessage() for r in caplog.records) == 2:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # the restarted worker has its SIGTERM handler
    assert await pool.stop() is False
    messages = [r.getMessage() for r in caplog.records]
    assert any("worker died role=test worker=1" in m and "exit=3 restart_in_s=1" in m for m in messages)
    assert sum("worker started role=test worker=1" in m for m in messages) == 2
    assert any("worker stopped role=test worker=1" in m for m in messages)


async def test_a_worker_that_cannot_start_is_not_restarted() -> None:
    pool = WorkerPool(
        "test", range(2), drain_timeout_s=5, command=lambda i: program("import sys; sys.exit(2)")
    )
    pool.start()
    await asyncio.wait_for(pool.start_error.wait(), 10)
    assert await pool.stop() is False


async def test_a_worker_that_outlives_the_drain_is_killed_and_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("prela.server.workers.STOP_MARGIN_S", 0.5)
    ignores_sigterm = program(
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)"
    )
    pool = WorkerPool("test", [0], drain_timeout_s=0.1, command=lambda i: ignores_sigterm)
    pool.start()
    await asyncio.sleep(0.5)
    assert await pool.stop() is False


def test_a_worker_runs_the_role_with_the_supervisors_effective_settings() -> None:
    settings = Settings().with_overrides(
        data_dir=Path("/srv/prela"), host="0.0.0.0", otlp_grpc_port=14317, otlp_http_port=14318, workers=4
    )
    assert worker_command(3, role_arguments("collector", settings)) == [
        sys.executable, "-m", "prela.server", "collector", "--data-dir", "/srv/prela", "--host", "0.0.0.0",
        "--otlp-grpc-port", "14317", "--otlp-http-port", "14318", "--metrics-port", "9464",
        "--admission-max-requests", "4", "--admission-max-bytes", "67108864", "--admission-max-queue", "32",
        "--admission-max-wait-ms", "1000.0", "--workers", "4", "--worker-index", "3",
    ]  # fmt: skip


def test_admission_flags_set_the_limits_and_reach_every_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import prela.server.serve as serve_module
    from prela.server import cli as cli_module

    seen: list[Settings] = []
    monkeypatch.setattr(serve_module, "serve", lambda settings, worker_index: seen.append(settings) or 0)
    monkeypatch.setattr(cli_module, "_check_listeners", lambda settings, role: None)
    flags = ["--admission-max-requests", "2", "--admission-max-bytes", "1000", "--admission-max-queue", "0",
             "--admission-max-wait-ms", "50", "--workers", "1"]  # fmt: skip
    result = CliRunner().invoke(cli_module.cli, ["serve", *flags])
    assert result.exit_code == 0, result.output
    limits = seen[0]
    assert (limits.admission_max_requests, limits.admission_max_bytes, limits.admission_max_queue) == (
        2,
        1000,
        0,
    )
    assert limits.admission_max_wait_ms == 50.0
    arguments = role_arguments("serve", limits)
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        assert arguments[arguments.index(flag) + 1] in (value, f"{float(value)}")
    bad = CliRunner().invoke(cli_module.cli, ["serve", "--admission-max-requests", "0"])
    assert bad.exit_code == 2 and "--admission-max-requests" in bad.output
