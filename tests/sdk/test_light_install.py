"""`pip install prela` is the SDK alone: it imports and runs without any server package."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

SERVER_PACKAGES = (
    "chdb",
    "clickhouse_connect",
    "starlette",
    "uvicorn",
    "aiokafka",
    "asyncpg",
    "orjson",
    "click",
)
SERVER_DISTRIBUTIONS = (
    "chdb",
    "clickhouse-connect",
    "starlette",
    "uvicorn",
    "aiokafka",
    "asyncpg",
    "orjson",
    "click",
)
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _run_without_server_packages(body: str) -> subprocess.CompletedProcess[str]:
    """Run `body` in a fresh interpreter where importing any server package fails."""
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        BLOCKED = {SERVER_PACKAGES!r}

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"blocked server package: {{name}}")
                return None

        sys.meta_path.insert(0, Blocker())
        """
    ) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_the_blocker_really_blocks() -> None:
    result = _run_without_server_packages("import starlette")
    assert result.returncode != 0
    assert "blocked server package: starlette" in result.stderr


def test_sdk_imports_and_runs_without_server_packages() -> None:
    result = _run_without_server_packages(
        """
        import prela
        prela.init(service_name="light", exporter="memory")
        with prela.llm("gpt-4o", provider="openai", input="hi") as call:
            call.set_llm(output="hello", input_tokens=1, output_tokens=1)
        assert [s.name for s in prela.testing.get_finished_spans()] == ["chat gpt-4o"]
        from prela.span_exporters import otlp_grpc_exporter, otlp_http_exporter  # the wire exporters load too
        from prela.config import resolve_settings
        otlp_http_exporter(resolve_settings(environ={}))
        otlp_grpc_exporter(resolve_settings(environ={}))
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_prela_stays_cheap_and_loads_no_server_module() -> None:
    result = _run_without_server_packages(
        """
        import sys
        import prela
        loaded = sorted(m for m in sys.modules if m.startswith(("prela.", "grpc", "requests", "google.protobuf")))
        print(",".join(loaded))
        """
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.strip().split(","))
    assert not {
        m
        for m in loaded
        if m.startswith(("prela.collector", "prela.exporters", "prela.query", "prela.server"))
    }
    assert not {m for m in loaded if m.startswith(("grpc", "requests"))}  # wire exporters load on demand


def test_pyproject_light_dependencies_hold_no_server_package() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    names = {dep.split(">")[0].split("=")[0].split("[")[0].strip().lower() for dep in dependencies}
    assert names.isdisjoint(SERVER_DISTRIBUTIONS), names
    assert {"opentelemetry-api", "opentelemetry-sdk"} <= names
