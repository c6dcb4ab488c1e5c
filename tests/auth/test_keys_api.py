"""POST/GET/DELETE /api/v1/projects/{id}/keys through httpx's ASGI transport, with PrincipalMiddleware."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from prela.auth.api import PrincipalMiddleware, key_management_routes, request_principal
from prela.auth.config import JwtConfig
from prela.auth.ingest import IngestAuthenticator
from prela.auth.query import QueryAuthenticator
from prela.auth.store import ProjectStore, build_store

SECRET = "k" * 40


def token(org: str) -> dict[str, str]:
    now = int(time.time())
    signed = jwt.encode(
        {"sub": "user_1", "org_id": org, "exp": now + 60, "iat": now}, SECRET, algorithm="HS256"
    )
    return {"Authorization": f"Bearer {signed}"}


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ProjectStore, IngestAuthenticator]]:
    store = build_store(None, tmp_path)
    await store.start()
    await store.create_project("A", project_id="org_A")
    await store.create_project("B", project_id="org_B")
    ingest = IngestAuthenticator(store)
    query = QueryAuthenticator(JwtConfig(secret=SECRET), ingest)

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"project_id": request_principal(request).project_id})

    async def forget(info):  # type: ignore[no-untyped-def]
        await ingest.forget_key(info.id)

    routes = [
        Route("/api/v1/whoami", whoami),
        *key_management_routes(store, request_principal, on_revoke=forget),
    ]
    starlette = Starlette(
        routes=routes, middleware=[Middleware(PrincipalMiddleware, authenticate=query.authenticate)]
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=starlette), base_url="http://test")
    yield client, store, ingest
    await client.aclose()
    await store.close()


async def test_a_user_creates_lists_and_revokes_keys_of_its_project(app) -> None:  # type: ignore[no-untyped-def]
    client, _, ingest = app
    created = await client.post(
        "/api/v1/projects/org_A/keys", json={"name": "production"}, headers=token("org_A")
    )
    assert created.status_code == 201
    body = created.json()
    assert (
        body["key"].startswith("pk_org_A_") and body["project_id"] == "org_A" and body["name"] == "production"
    )
    assert (await ingest.authenticate({"X-API-Key": body["key"]})).project_id == "org_A"

    listed = await client.get("/api/v1/projects/org_A/keys", headers=token("org_A"))
    assert listed.status_code == 200
    assert [k["id"] for k in listed.json()["keys"]] == [body["id"]]
    assert body["key"] not in listed.text and "key_hash" not in listed.text

    revoked = await client.delete(f"/api/v1/projects/org_A/keys/{body['id']}", headers=token("org_A"))
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    with pytest.raises(Exception, match="revoked"):
        await ingest.authenticate({"X-API-Key": body["key"]})


async def test_another_project_is_404_like_an_unknown_one(app) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app
    _, b_key = await store.create_key("org_B")
    for response in (
        await client.get("/api/v1/projects/org_B/keys", headers=token("org_A")),
        await client.post("/api/v1/projects/org_B/keys", json={}, headers=token("org_A")),
        await client.delete(f"/api/v1/projects/org_B/keys/{b_key.id}", headers=token("org_A")),
    ):
        unknown = await client.get("/api/v1/projects/org_nothing/keys", headers=token("org_A"))
        assert response.status_code == unknown.status_code == 404
        assert response.json() == unknown.json()
    # a key of B cannot be revoked through A's path either
    deleted = await client.delete(f"/api/v1/projects/org_A/keys/{b_key.id}", headers=token("org_A"))
    assert deleted.status_code == 404 and deleted.json() == {"error": "key not found"}
    assert (await store.get_key(b_key.id)).revoked_at is None  # type: ignore[union-attr]


async def test_first_key_of_an_organisation_creates_its_project(app) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app
    response = await client.post("/api/v1/projects/org_New/keys", headers=token("org_New"))
    assert response.status_code == 201 and response.json()["name"] == "default"
    assert await store.get_project("org_New") is not None


async def test_api_keys_cannot_manage_keys(app) -> None:  # type: ignore[no-untyped-def]
    client, store, _ = app
    key, _ = await store.create_key("org_A")
    assert (await client.get("/api/v1/whoami", headers={"X-API-Key": key})).json() == {"project_id": "org_A"}
    response = await client.post("/api/v1/projects/org_A/keys", headers={"X-API-Key": key})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"name": ""}', "invalid key name"),
        (b'{"name": 5}', "must be a string"),
        (b'{"name": "x", "key": "pk_mine"}', "unknown field"),
        (b'{"name": "' + b"x" * 5000 + b'"}', "exceeds"),
    ],
)
async def test_bad_input_is_400_with_a_message(app, body: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = app
    response = await client.post(
        "/api/v1/projects/org_A/keys",
        content=body,
        headers={**token("org_A"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and message in response.json()["error"]


async def test_missing_or_bad_credentials_are_401_with_www_authenticate(app) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = app
    for headers in ({}, {"Authorization": "Bearer nope"}, {"X-API-Key": "pk_org_A_" + "z" * 40}):
        response = await client.get("/api/v1/projects/org_A/keys", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"]
