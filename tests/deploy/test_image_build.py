"""The image, built without Docker: deploy/Dockerfile's COPY and pip steps replayed on its build
context (.dockerignore applied) into a fresh directory, then the installed `prela` run from there.

The replay follows the Dockerfile, not a copy of it: change the file and this test builds the change.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.conftest import PROCESS_LOGS, free_port
from tests.deploy.dockerfile_replay import Replay, copy_context, replay

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    work = tmp_path_factory.mktemp("image")
    copy_context(REPO, work / "context")
    yield replay(REPO / "deploy" / "Dockerfile", work / "context", work / "rootfs")
    shutil.rmtree(work)  # about 1 GB, chDB mostly


@dataclass
class Container:
    """`prela serve` started as the image starts it: its ENTRYPOINT and CMD, its ENV, its WORKDIR."""

    process: subprocess.Popen[bytes]
    http_port: int
    query_port: int
    log_path: Path


@pytest.fixture(scope="module")
def container(image: Replay, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    http_port, query_port, grpc_port = free_port(), free_port(), free_port()
    log_path = tmp_path_factory.mktemp("image-serve") / "serve.log"  # outlives the image: scanned for secrets
    command = [str(image.program(image.entrypoint[0])), *image.entrypoint[1:], *image.cmd]
    env = {
        **image.env,
        "PRELA_OTLP_GRPC_PORT": str(grpc_port),
        "PRELA_OTLP_HTTP_PORT": str(http_port),
        "PRELA_QUERY_PORT": str(query_port),
    }
    process = subprocess.Popen(
        command, cwd=image.workdir, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT
    )
    PROCESS_LOGS.append(log_path)
    running = Container(process, http_port, query_port, log_path)
    deadline = time.monotonic() + 90
    while not _answers(f"http://127.0.0.1:{query_port}/api/v1/health"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"prela serve from the image did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    yield running
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def run_in_image(image: Replay, *args: str) -> subprocess.CompletedProcess[str]:
    program = image.program(args[0])
    return subprocess.run(
        [str(program), *args[1:]],
        cwd=image.workdir,
        env=image.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_image_has_every_package_installed_from_its_own_files(image: Replay) -> None:
    venv = image.path("/opt/prela")
    assert image.program("prela") == venv / "bin" / "prela"
    packages = ["prela", "prela.model", "prela.proto", "prela.collector", "prela.exporters"]
    packages += ["prela.query", "prela.server", "prela.auth", "prela.telemetry"]
    probe = "; ".join(f"import {p}; print({p}.__file__)" for p in packages)
    result = run_in_image(image, "python", "-c", probe)
    assert result.returncode == 0, result.stderr
    files = result.stdout.split()
    assert len(files) == len(packages)
    assert all(Path(f).is_relative_to(venv / "lib") for f in files), files  # installed, not the sources
    assert not image.path("/src").exists()  # the builder's sources stay in the builder


def test_every_role_of_the_image_starts_its_cli(image: Replay) -> None:
    for role in ("collector", "writer", "query", "migrate", "serve"):
        result = run_in_image(image, "prela", role, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"Usage: prela {role} [OPTIONS]")


def test_serve_from_the_image_stores_an_otlp_trace_and_serves_it_back(
    image: Replay, container: Container
) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "image-check"}))
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{container.http_port}/v1/traces", timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("tests.deploy").start_as_current_span(
        "chat gpt-4o", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    ) as span:
        trace_id = f"{span.get_span_context().trace_id:032x}"
    provider.shutdown()

    url = f"http://127.0.0.1:{container.query_port}/api/v1/traces/{trace_id}"
    deadline = time.monotonic() + 30
    response = httpx.get(url, timeout=5)
    while response.status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
        response = httpx.get(url, timeout=5)
    assert response.status_code == 200, response.text
    [stored] = response.json()["spans"]
    assert (stored["name"], stored["span_type"], stored["service_name"]) == (
        "chat gpt-4o", "LLM", "image-check"
    )  # fmt: skip
    assert Path(image.env["PRELA_DATA_DIR"], "clickhouse").is_dir()  # the image's data dir, from its ENV


def test_the_image_healthcheck_passes_on_a_running_role_and_fails_on_a_silent_one(
    image: Replay, container: Container
) -> None:
    program, script = image.healthcheck[0], image.path(image.healthcheck[1])
    healthy = run_in_image(
        image, program, str(script), "prela", "serve", f"--otlp-http-port={container.http_port}"
    )
    assert healthy.returncode == 0, healthy.stderr
    silent = run_in_image(image, program, str(script), "prela", "query", "--port", str(free_port()))
    assert silent.returncode == 1
    assert silent.stderr.startswith("unhealthy: http://127.0.0.1:")


def test_serve_from_the_image_drains_and_exits_0_on_sigterm(container: Container) -> None:
    container.process.send_signal(signal.SIGTERM)
    assert container.process.wait(60) == 0
    assert "drained: every accepted span is stored" in container.log_path.read_text()
