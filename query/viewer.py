"""The trace viewer: a static single-page app (query/viewer/*) served from the query port.

`GET /` and every page path (`/traces/{id}`, `/sessions[/{id}]`, `/spans`, `/stats`) answer the
same index.html; the browser routes on the client and reads data from `/api/v1/...` with the
credential the user typed. The page holds no data, so it is served before authentication
(`ViewerMiddleware`), with a strict Content-Security-Policy. Assets live under
`/assets/<version>/<file>`, `<version>` a hash of their content: cached for a year, and a
new release changes every address at once (relative ES-module imports keep the version).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_VERSION_PLACEHOLDER = "__ASSETS__"
# Page paths of the client-side router: all of them answer index.html.
PAGE_PATHS = (
    "/",
    "/traces",
    "/traces/{trace_id:path}",
    "/sessions",
    "/sessions/{session_id:path}",
    "/spans",
    "/stats",
)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    content_type: str
    etag: str


def _asset(body: bytes, content_type: str) -> Asset:
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Asset(body, gzip.compress(body, 9, mtime=0), content_type, f'"{digest}"')


class ViewerFiles:
    """The viewer's files, read once from the package data and kept in memory (about 100 KB)."""

    def __init__(self) -> None:
        folder = resources.files("prela.query") / "viewer"
        raw = {
            entry.name: entry.read_bytes()
            for entry in folder.iterdir()
            if entry.is_file() and any(entry.name.endswith(ext) for ext in _CONTENT_TYPES)
        }
        index = raw.pop("index.html")
        self.version = hashlib.sha256(b"".join(raw[name] for name in sorted(raw))).hexdigest()[:12]
        self.assets = {
            name: _asset(body, _CONTENT_TYPES["." + name.rsplit(".", 1)[-1]]) for name, body in raw.items()
        }
        page = index.replace(_VERSION_PLACEHOLDER.encode(), f"/assets/{self.version}".encode())
        self.index = _asset(page, _CONTENT_TYPES[".html"])


def _send(request: Request, asset: Asset, headers: dict[str, str]) -> Response:
    headers = {**headers, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    if request.method == "HEAD":
        return Response(media_type=asset.content_type, headers={**headers, "Content-Length": str(len(body))})
    return Response(body, media_type=asset.content_type, headers=headers)


def viewer_routes(files: ViewerFiles | None = None) -> list[Route]:
    """`GET /` and the page paths (index.html), and `/assets/{version}/{name}`."""
    files = files or ViewerFiles()

    async def page(request: Request) -> Response:
        return _send(request, files.index, {**_SECURITY_HEADERS, "Cache-Control": "no-cache"})

    async def asset(request: Request) -> Response:
        found = files.assets.get(request.path_params["name"])
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        # An older or newer version than ours still gets our file, but must not be cached as that version.
        current = request.path_params["version"] == files.version
        cache = _IMMUTABLE if current else "no-cache"
        return _send(request, found, {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})

    methods = ["GET", "HEAD"]
    return [
        *(Route(path, page, methods=methods) for path in PAGE_PATHS),
        Route("/assets/{version}/{name}", asset, methods=methods),
    ]


class ViewerMiddleware:
    """Serves the viewer's pages and assets before authentication; every other request goes on.

    The pages carry no data (the browser fetches it from the API with its own credential), and
    page paths have ids in them, so they cannot be listed among the exact public paths.
    """

    def __init__(self, app: ASGIApp, files: ViewerFiles | None = None) -> None:
        self._app = app
        self._router = Router(routes=viewer_routes(files))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            for route in self._router.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    scope["route"] = route  # labels the request metrics like the router would
                    await route.handle(scope, receive, send)
                    return
        await self._app(scope, receive, send)
