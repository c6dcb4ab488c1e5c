"""How the viewer's files are served (no browser): page paths, assets, caching, pass-through."""

from __future__ import annotations

import gzip
import re

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from prela.query.viewer import CONTENT_SECURITY_POLICY, ViewerFiles, ViewerMiddleware


async def inner(request):  # type: ignore[no-untyped-def]
    return PlainTextResponse(f"inner {request.method} {request.url.path}")


def client() -> TestClient:
    app = Starlette(routes=[Route("/{path:path}", inner, methods=["GET", "POST"])])
    return TestClient(ViewerMiddleware(app))


def test_page_paths_answer_the_same_index() -> None:
    http = client()
    bodies = {
        path: http.get(path)
        for path in ("/", "/traces", "/traces/a/b", "/sessions", "/sessions/x", "/spans", "/stats")
    }
    assert {r.status_code for r in bodies.values()} == {200}
    assert len({r.text for r in bodies.values()}) == 1
    page = bodies["/"]
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-cache"
    assert "__ASSETS__" not in page.text


def test_other_paths_and_methods_reach_the_app() -> None:
    http = client()
    assert http.get("/api/v1/traces").text == "inner GET /api/v1/traces"
    assert http.get("/metrics").text == "inner GET /metrics"
    assert http.post("/").text == "inner POST /"
    assert http.get("/statsx").text == "inner GET /statsx"


def test_every_asset_the_page_names_is_served_with_its_type() -> None:
    http = client()
    page = http.get("/").text
    named = re.findall(r'(?:href|src)="(/assets/[^"]+)"', page)
    assert {name.rsplit("/", 1)[1] for name in named} >= {"app.js", "viewer.css", "favicon.svg"}
    for name in named:
        response = http.get(name)
        assert response.status_code == 200, name
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert http.get(named[-1]).headers["content-type"] == "text/javascript; charset=utf-8"


def test_module_imports_resolve_to_shipped_files() -> None:
    files = ViewerFiles()
    for name, asset in files.assets.items():
        if name.endswith(".js"):
            for target in re.findall(rb'(?:from |import\()"\./([\w.]+)"', asset.body):
                assert target.decode() in files.assets, f"{name} imports missing {target!r}"


def test_gzip_and_conditional_requests() -> None:
    http = client()
    files = ViewerFiles()
    path = f"/assets/{files.version}/app.js"
    raw = http.get(path, headers={"Accept-Encoding": "identity"})
    zipped = http.get(path, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == raw.content  # httpx decodes: the same file
    assert gzip.decompress(files.assets["app.js"].gzipped) == raw.content
    assert http.get(path, headers={"If-None-Match": raw.headers["etag"]}).status_code == 304
    head = http.head(path, headers={"Accept-Encoding": "identity"})
    assert (head.status_code, head.headers["content-length"], head.content) == (
        200,
        str(len(raw.content)),
        b"",
    )
