"""Key management on the query API, and the middleware that authenticates its requests.

Routes (mounted by the query app):
    POST   /api/v1/projects/{project_id}/keys            {"name": "…"} → 201 {"key": "pk_…", …}
    GET    /api/v1/projects/{project_id}/keys            → {"keys": [...]}, never a secret
    DELETE /api/v1/projects/{project_id}/keys/{key_id}   → {"id": …, "revoked_at": …}

A principal manages only its own project: any other project id is 404, exactly like an
unknown one. Managing keys takes a user (JWT) principal by default: an API key that leaked
from an app must not be able to mint more keys or revoke the owner's.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from prela.auth.errors import (
    AuthUnavailable,
    InvalidName,
    InvalidProjectId,
    ProjectExists,
    ProjectNotFound,
    StoreUnavailable,
    Unauthenticated,
)
from prela.auth.headers import Headers
from prela.auth.records import KeyInfo, Principal, validate_name, validate_project_id
from prela.auth.store import ProjectStore

logger = logging.getLogger(__name__)

PrincipalOf = Callable[[Request], Principal | Awaitable[Principal]]
OnRevoke = Callable[[KeyInfo], Awaitable[None]]
Authenticate = Callable[[Headers], Awaitable[Principal]]

MAX_BODY_BYTES = 4096
PRINCIPAL_STATE = "prela_principal"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def unauthenticated_response(exc: Unauthenticated) -> JSONResponse:
    return _error(401, exc.message, {"WWW-Authenticate": exc.www_authenticate})


def unavailable_response(message: str = "authentication is unavailable, retry later") -> JSONResponse:
    return _error(503, message, {"Retry-After": "1"})


class PrincipalMiddleware:
    """Authenticates every HTTP request (but `exempt_paths` and CORS preflights) before the app sees it.

    401 / 503 answers come from here; the app reads the principal with `request_principal(request)`.
    Put CORS outside of it, so browser preflights are answered without credentials.
    """

    def __init__(
        self, app: ASGIApp, authenticate: Authenticate, exempt_paths: tuple[str, ...] = ("/api/v1/health",)
    ) -> None:
        self._app = app
        self._authenticate = authenticate
        self._exempt = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt or scope["method"] == "OPTIONS":
            await self._app(scope, receive, send)
            return
        request = Request(scope)
        try:
            principal = await self._authenticate(request.headers)
        except Unauthenticated as exc:
            logger.info("query refused status=401 path=%s reason=%r", scope["path"], exc.message)
            await unauthenticated_response(exc)(scope, receive, send)
            return
        except AuthUnavailable as exc:
            logger.warning("query refused status=503 path=%s reason=%r", scope["path"], str(exc))
            await unavailable_response(str(exc))(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        await self._app(scope, receive, send)


def request_principal(request: Request) -> Principal:
    """The principal `PrincipalMiddleware` stored on the request (a LookupError when it did not run)."""
    principal = request.scope.get("state", {}).get(PRINCIPAL_STATE)
    if not isinstance(principal, Principal):
        raise LookupError("no principal on this request: is PrincipalMiddleware installed?")
    return principal


class KeyManagementApi:
    def __init__(
        self,
        store: ProjectStore,
        principal_of: PrincipalOf,
        on_revoke: OnRevoke | None = None,
        allow_api_keys: bool = False,
        create_missing_projects: bool = True,
    ) -> None:
        self._store = store
        self._principal_of = principal_of
        self._on_revoke = on_revoke
        self._allow_api_keys = allow_api_keys
        self._create_missing = create_missing_projects

    async def _principal(self, request: Request) -> Principal:
        result = self._principal_of(request)
        return await result if inspect.isawaitable(result) else result

    async def _authorise(self, request: Request) -> tuple[Principal, str] | Response:
        """(the principal, the project id of the path) or the error answer."""
        try:
            principal = await self._principal(request)
        except Unauthenticated as exc:
            return unauthenticated_response(exc)
        except AuthUnavailable as exc:
            return unavailable_response(str(exc))
        project_id = request.path_params["project_id"]
        if project_id != principal.project_id:
            return _error(404, "project not found")  # the same answer as for an unknown project
        if principal.method == "api_key" and not self._allow_api_keys:
            return _error(403, "API keys cannot manage keys; use a signed-in user's token")
        return principal, project_id

    async def create_key(self, request: Request) -> Response:
        auth = await self._authorise(request)
        if isinstance(auth, Response):
            return auth
        principal, project_id = auth
        try:
            body = await _json_body(request)
            raw_name = body.get("name", "default")
            name = validate_name("key", raw_name)
            if (
                principal.method == "jwt"
                and self._create_missing
                and await self._store.get_project(project_id) is None
            ):
                # A Clerk organisation is a project: the first key of an organisation creates it.
                with contextlib.suppress(ProjectExists):  # created meanwhile by another request
                    await self._store.create_project(project_id, project_id=project_id)
            key, info = await self._store.create_key(project_id, name)
        except (ValueError, InvalidName) as exc:
            return _error(400, str(exc))
        except ProjectNotFound:
            return _error(404, "project not found")
        except StoreUnavailable:
            return unavailable_response("the key store is unavailable, retry later")
        return JSONResponse({"key": key, **info.to_dict()}, status_code=201)

    async def list_keys(self, request: Request) -> Response:
        auth = await self._authorise(request)
        if isinstance(auth, Response):
            return auth
        _, project_id = auth
        try:
            keys = await self._store.list_keys(project_id)
        except InvalidProjectId:
            return _error(404, "project not found")
        except StoreUnavailable:
            return unavailable_response("the key store is unavailable, retry later")
        return JSONResponse({"keys": [k.to_dict() for k in keys]})

    async def revoke_key(self, request: Request) -> Response:
        auth = await self._authorise(request)
        if isinstance(auth, Response):
            return auth
        _, project_id = auth
        key_id = request.path_params["key_id"]
        try:
            validate_project_id(project_id)
            info = await self._store.revoke_key(key_id, project_id)
        except InvalidProjectId:
            return _error(404, "project not found")
        except StoreUnavailable:
            return unavailable_response("the key store is unavailable, retry later")
        if info is None:
            return _error(404, "key not found")
        if self._on_revoke is not None:
            await self._on_revoke(info)
        return JSONResponse(info.to_dict())


async def _json_body(request: Request) -> dict[str, Any]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ValueError(f"request body exceeds {MAX_BODY_BYTES} bytes")
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError(
            f'body must be a JSON object like {{"name": "production"}}, got {type(doc).__name__}'
        )
    unknown = sorted(set(doc) - {"name"})
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))}; expected only 'name'")
    return doc


def key_management_routes(
    store: ProjectStore,
    principal_of: PrincipalOf,
    *,
    on_revoke: OnRevoke | None = None,
    allow_api_keys: bool = False,
    create_missing_projects: bool = True,
    prefix: str = "/api/v1",
) -> list[Route]:
    """The key routes. `principal_of(request)` gives the authenticated principal (sync or async;
    it may raise `Unauthenticated`); `on_revoke` runs after a revocation (pass
    `lambda info: ingest_auth.forget_key(info.id)` to clear the shared cache at once)."""
    api = KeyManagementApi(store, principal_of, on_revoke, allow_api_keys, create_missing_projects)
    return [
        Route(f"{prefix}/projects/{{project_id}}/keys", api.create_key, methods=["POST"]),
        Route(f"{prefix}/projects/{{project_id}}/keys", api.list_keys, methods=["GET"]),
        Route(f"{prefix}/projects/{{project_id}}/keys/{{key_id}}", api.revoke_key, methods=["DELETE"]),
    ]
