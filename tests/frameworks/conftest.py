"""Fixtures of the framework tests: one fake LLM server (OpenAI, Gemini, Bedrock) for the session,
and the Node.js apps with their pinned packages."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.frameworks.fake_llm import FakeLLM, fake_llm_server

HERE = Path(__file__).parent
NPM_CACHE = Path(os.environ.get("PRELA_TEST_NPM_CACHE", Path.home() / ".cache" / "prela-tests" / "npm"))


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    with fake_llm_server() as server:
        yield server


def install(command: list[str], cwd: Path | None = None) -> None:
    """Run a package installer; its output is the failure message when it fails."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


def npm_installed(app_dir: Path) -> Path:
    """`app_dir` with its locked packages in node_modules (`npm ci` only when the lock file changed);
    skips the test when `node` is not installed."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the Vercel AI SDK runs on Node.js")
    digest = hashlib.sha256((app_dir / "package-lock.json").read_bytes()).hexdigest()
    stamp = app_dir / "node_modules" / ".prela-lock-sha256"
    if not stamp.exists() or stamp.read_text() != digest:
        install(["npm", "ci", "--no-audit", "--no-fund", "--cache", str(NPM_CACHE)], cwd=app_dir)
        stamp.write_text(digest)
    return app_dir


@pytest.fixture(scope="session")
def node_ai5_app() -> Path:
    return npm_installed(HERE / "node")


@pytest.fixture(scope="session")
def node_ai7_app() -> Path:
    return npm_installed(HERE / "node_ai7")


def run_node_app(app_dir: Path, **env: str) -> str:
    """Run `app.mjs` of `app_dir` with `env` added; returns the trace id it printed."""
    done = subprocess.run(
        ["node", "app.mjs"],
        cwd=app_dir,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout.strip().splitlines()[-1])["trace_id"])


def only(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The one span called `name`."""
    (span,) = [s for s in spans if s["name"] == name]
    return span
