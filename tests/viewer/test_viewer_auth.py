"""The viewer with PRELA_AUTH=required: the page is public, its data is not.

It asks for an API key (or a bearer JWT), keeps it in sessionStorage only, sends it on every API
call, and asks again when the API answers 401.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from playwright.sync_api import expect

from tests.conftest import PrelaServer, start_prela_serve
from tests.viewer.conftest import (
    SERVER_ENV,
    VIEWPORT,
    SentTraces,
    screenshot,
    send_app_traces,
    wait_for_traces,
)

pytestmark = pytest.mark.integration

PROJECT = "viewer-auth"
JWT_SECRET = secrets.token_hex(32)


def prela_cli(data_dir: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "prela.server", *args, "--data-dir", str(data_dir), "--json"],
        env={**os.environ, "PRELA_AUTH": "required"},
        capture_output=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("viewer-auth") / "data"


@pytest.fixture(scope="module")
def api_key(data_dir: Path) -> str:
    data_dir.mkdir(parents=True)
    prela_cli(data_dir, "projects", "create", "--id", PROJECT, "--name", "Viewer auth")
    return str(prela_cli(data_dir, "keys", "create", "--project", PROJECT, "--name", "viewer")["key"])


@pytest.fixture(scope="module")
def server(data_dir: Path, api_key: str) -> Iterator[PrelaServer]:
    env = {**SERVER_ENV, "PRELA_AUTH": "required", "JWT_SECRET": JWT_SECRET}
    server = start_prela_serve(data_dir, env=env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sent(server: PrelaServer, api_key: str) -> SentTraces:
    headers = {"x-api-key": api_key}
    traces = send_app_traces(server, headers=headers)
    wait_for_traces(server, {traces.agent: 5, traces.html: 2, traces.failed: 2}, headers=headers)
    return traces


@pytest.fixture
def page(browser: Any, server: PrelaServer, sent: SentTraces) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: "Content Security Policy" in msg.text and errors.append(msg.text))
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert errors == []


def api_requests(page: Any) -> list[dict[str, str]]:
    """The headers of every /api/ request the page makes from now on."""
    seen: list[dict[str, str]] = []
    page.on("request", lambda request: "/api/v1/" in request.url and seen.append(request.headers))
    return seen


def sign_in(page: Any, credential: str) -> None:
    dialog = page.locator("#auth-dialog")
    expect(dialog).to_be_visible()
    page.fill("#auth-credential", credential)
    page.click("#auth-form button[type=submit]")


def test_the_page_is_public_and_the_api_is_not(server: PrelaServer) -> None:
    assert httpx.get(f"{server.query_url}/", timeout=10).status_code == 200
    assert httpx.get(f"{server.query_url}/traces/abc", timeout=10).status_code == 200
    assert httpx.get(f"{server.query_url}/api/v1/traces", timeout=10).status_code == 401


def test_the_viewer_asks_for_a_key_and_works_once_it_has_one(
    page: Any, server: PrelaServer, api_key: str, sent: SentTraces
) -> None:
    requests = api_requests(page)
    page.goto(f"{server.query_url}/")
    expect(page.locator("#auth-reason")).to_have_text("This server requires a credential.")
    screenshot(page, "sign-in")
    sign_in(page, api_key)
    page.locator("table.traces tbody tr.row").nth(2).wait_for()
    assert page.locator("table.traces tbody tr.row").count() == 3
    expect(page.locator("#auth-dialog")).to_be_hidden()
    assert [r.get("x-api-key") for r in requests] == [None, api_key]
    assert all("authorization" not in r for r in requests)
    assert page.evaluate("sessionStorage.getItem('prela.credential')") == api_key
    assert page.evaluate("localStorage.length") == 0
    page.locator(f'tr.row[data-id="{sent.agent}"] td.name a').click()
    page.locator(".wf-row").nth(4).wait_for()
    assert requests[-1]["x-api-key"] == api_key
    page.reload()  # the tab keeps the key: no prompt
    page.locator(".wf-row").nth(4).wait_for()
    expect(page.locator("#auth-dialog")).to_be_hidden()


def test_a_refused_key_brings_the_prompt_back(page: Any, server: PrelaServer, api_key: str) -> None:
    page.goto(f"{server.query_url}/")
    sign_in(page, f"pk_{PROJECT}_{'0' * 40}")
    expect(page.locator("#auth-reason")).to_contain_text("The server refused the credential")
    assert page.locator("table.traces tbody tr.row").count() == 0
    sign_in(page, api_key)
    page.locator("table.traces tbody tr.row").nth(2).wait_for()
    page.click("#signout")  # forgetting the key asks again
    expect(page.locator("#auth-dialog")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('prela.credential')") is None


def test_a_token_is_sent_as_a_bearer_credential(page: Any, server: PrelaServer, sent: SentTraces) -> None:
    now = int(time.time())
    token = jwt.encode(
        {"sub": "user-1", "org_id": PROJECT, "iat": now, "exp": now + 600}, JWT_SECRET, "HS256"
    )
    requests = api_requests(page)
    page.goto(f"{server.query_url}/traces/{sent.html}")
    sign_in(page, token)
    page.locator(".wf-row").nth(1).wait_for()
    assert requests[-1]["authorization"] == f"Bearer {token}"
    assert "x-api-key" not in requests[-1]
