"""Projects, keys and JWTs end to end: `prela serve` on a real Postgres store with Redis.

Two projects send spans over OTLP/HTTP, OTLP/gRPC and Prela JSON with their own
keys; each sees only its own traces, by list, by id and by filter, through its
JWT or its key. Every bad credential is refused on every path.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import jwt
import orjson
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.auth.conftest import _psql, pg_dsn
from tests.conftest import PrelaServer, start_prela_serve
from tests.integration.test_bad_input import EXPORT, request_of, span

pytestmark = pytest.mark.integration

JWT_SECRET = secrets.token_hex(32)


@dataclass
class Tenant:
    project_id: str
    key: str
    key_id: str

    def token(self, **claims: object) -> str:
        now = int(time.time())
        body = {
            "sub": f"user-{self.project_id}",
            "org_id": self.project_id,
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        return jwt.encode(body, JWT_SECRET, algorithm="HS256")


def prela_cli(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "prela.server", *args, "--json"], env=env, capture_output=True, check=True
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    name = f"prela_e2e_{secrets.token_hex(6)}"
    _psql(f'CREATE DATABASE "{name}"')
    try:
        yield pg_dsn(name)
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def server_env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "JWT_SECRET": JWT_SECRET,
        "CORS_ORIGINS": '["https://dashboard.example"]',
        "PRELA_KEY_CACHE_TTL_SECONDS": "2",
    }


@pytest.fixture(scope="module")
def tenants(server_env: dict[str, str]) -> dict[str, Tenant]:
    env = {**os.environ, **server_env}
    out = {}
    for name in ("a", "b"):
        project_id = f"proj_{name}_{secrets.token_hex(3)}"
        prela_cli(env, "projects", "create", "--id", project_id, "--name", f"Project {name.upper()}")
        created = prela_cli(env, "keys", "create", "--project", project_id, "--name", "ci")
        assert created["project_id"] == project_id and created["key"].startswith(f"pk_{project_id}_")
        out[name] = Tenant(project_id, created["key"], created["id"])
    return out


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, server_env: dict[str, str]) -> Iterator[PrelaServer]:
    server = start_prela_serve(tmp_path_factory.mktemp("auth") / "data", env=server_env)
    yield server
    server.stop()


def send_http(
    server: PrelaServer, headers: dict[str, str], body: bytes | None = None, **extra: str
) -> httpx.Response:
    body = body if body is not None else request_of(span(os.urandom(16), os.urandom(8))).SerializeToString()
    return httpx.post(
        f"{server.ingest_url}/v1/traces",
        content=body,
        headers={"Content-Type": "application/x-protobuf", **headers, **extra},
        timeout=30,
    )


def send_grpc(server: PrelaServer, metadata: tuple[tuple[str, str], ...], body: bytes | None = None) -> bytes:
    body = body if body is not None else request_of(span(os.urandom(16), os.urandom(8))).SerializeToString()
    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        return call(body, metadata=metadata, timeout=30)


def seed_trace(trace_id: str) -> bytes:
    return orjson.dumps({
        "trace_id": trace_id, "service_name": "seed-svc",
        "spans": [{"span_id": "s1", "name": "op", "span_type": "LLM", "started_at": "2025-01-27T10:00:00Z",
                   "ended_at": "2025-01-27T10:00:01Z", "status": "SUCCESS", "attributes": {"model": "gpt-4"}}],
    })  # fmt: skip


def get(server: PrelaServer, path: str, headers: dict[str, str], **params: str) -> httpx.Response:
    return httpx.get(f"{server.query_url}{path}", headers=headers, params=params, timeout=30)


def wait_visible(server: PrelaServer, trace_id: str, headers: dict[str, str]) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = get(server, f"/api/v1/traces/{trace_id}", headers)
        if response.status_code == 200:
            return response.json()
        time.sleep(0.1)
    raise AssertionError(f"trace {trace_id} never became visible")


@pytest.fixture(scope="module")
def sent(secured: PrelaServer, tenants: dict[str, Tenant]) -> dict[str, list[str]]:
    """A's spans over HTTP (X-API-Key), gRPC (Bearer via the OTel exporter) and Prela JSON; B's over HTTP."""
    a, b = tenants["a"], tenants["b"]
    http_trace = os.urandom(16)
    body = request_of(span(http_trace, os.urandom(8), "a-http")).SerializeToString()
    assert send_http(secured, {"X-API-Key": a.key}, body).status_code == 200

    provider = TracerProvider(resource=Resource.create({"service.name": "svc-a"}))
    exporter = GrpcExporter(
        endpoint=secured.grpc_endpoint, insecure=True, headers={"authorization": f"Bearer {a.key}"}
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("a-grpc") as root:
        grpc_trace = format(root.get_span_context().trace_id, "032x")
    assert provider.force_flush(10_000)
    provider.shutdown()

    seed_id = f"seed-{secrets.token_hex(4)}"
    response = send_http(
        secured, {"X-API-Key": a.key}, seed_trace(seed_id), **{"Content-Type": "application/json"}
    )
    assert response.json() == {"status": "accepted", "trace_id": seed_id}

    b_trace = os.urandom(16)
    body = request_of(span(b_trace, os.urandom(8), "b-http")).SerializeToString()
    assert send_http(secured, {"Authorization": f"Bearer {b.key}"}, body).status_code == 200
    ids = {"a": [http_trace.hex(), grpc_trace, seed_id], "b": [b_trace.hex()]}
    for trace_id in ids["a"]:
        wait_visible(secured, trace_id, {"Authorization": f"Bearer {a.token()}"})
    wait_visible(secured, ids["b"][0], {"X-API-Key": b.key})
    return ids


def test_each_project_lists_only_its_own_traces(secured: PrelaServer, tenants: dict, sent: dict) -> None:
    a, b = tenants["a"], tenants["b"]
    listed_a = {
        t["trace_id"]
        for t in get(secured, "/api/v1/traces", {"Authorization": f"Bearer {a.token()}"}).json()["traces"]
    }
    listed_b = {t["trace_id"] for t in get(secured, "/api/v1/traces", {"X-API-Key": b.key}).json()["traces"]}
    assert listed_a == set(sent["a"])
    assert listed_b == set(sent["b"])


def test_another_projects_trace_is_404_like_an_unknown_one(
    secured: PrelaServer, tenants: dict, sent: dict
) -> None:
    b_headers = {"Authorization": f"Bearer {tenants['b'].token()}"}
    for trace_id in sent["a"]:
        response = get(secured, f"/api/v1/traces/{trace_id}", b_headers)
        assert response.status_code == 404
        assert response.json() == {"error": "trace not found", "trace_id": trace_id}
    unknown = get(secured, f"/api/v1/traces/{'ef' * 16}", b_headers)
    assert unknown.json() == {"error": "trace not found", "trace_id": "ef" * 16}


def test_filters_never_reach_another_project(secured: PrelaServer, tenants: dict, sent: dict) -> None:
    b_key = {"X-API-Key": tenants["b"].key}
    assert get(secured, "/api/v1/traces", b_key, model="gpt-4").json()["traces"] == []
    assert get(secured, "/api/v1/traces", b_key, service="svc-a").json()["traces"] == []
    a_key = {"X-API-Key": tenants["a"].key}
    assert [t["trace_id"] for t in get(secured, "/api/v1/traces", a_key, model="gpt-4").json()["traces"]] == [
        sent["a"][2]
    ]


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing"),
        ({"X-API-Key": "not-a-key"}, "malformed"),
        ({"X-API-Key": "pk_proj_nobody_" + "A" * 40}, "unknown"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
    ],
)
def test_bad_keys_are_401_on_every_ingest_path(
    secured: PrelaServer, headers: dict[str, str], message: str, sent: dict
) -> None:
    response = send_http(secured, headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    status = Status.FromString(response.content)
    assert status.code == 16 and message.lower() in status.message.lower()

    seed = send_http(secured, headers, seed_trace("never-stored"), **{"Content-Type": "application/json"})
    assert seed.status_code == 401 and message.lower() in seed.json()["message"].lower()

    metadata = tuple((k.lower(), v) for k, v in headers.items())
    with pytest.raises(grpc.RpcError) as caught:
        send_grpc(secured, metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "token_of",
    [
        lambda t: t.token(exp=int(time.time()) - 3600),
        lambda t: t.token(nbf=int(time.time()) + 3600),
        lambda t: jwt.encode(
            {"org_id": t.project_id, "exp": int(time.time()) + 60}, "x" * 64, algorithm="HS256"
        ),
        lambda t: jwt.encode({"org_id": t.project_id, "exp": int(time.time()) + 60}, None, algorithm="none"),
        lambda t: t.token(org_id=None),
    ],
    ids=["expired", "not-yet-valid", "wrong-signature", "alg-none", "no-project-claim"],
)
def test_bad_tokens_are_401_on_the_query_api(secured: PrelaServer, tenants: dict, token_of) -> None:
    token = token_of(tenants["a"])
    response = get(secured, "/api/v1/traces", {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_revoked_key_stops_working(secured: PrelaServer, tenants: dict, sent: dict) -> None:
    a = tenants["a"]
    user = {"Authorization": f"Bearer {a.token()}"}
    created = httpx.post(
        f"{secured.query_url}/api/v1/projects/{a.project_id}/keys", json={"name": "temp"}, headers=user
    ).json()
    key = created["key"]
    assert send_http(secured, {"X-API-Key": key}).status_code == 200
    listed = get(secured, f"/api/v1/projects/{a.project_id}/keys", user).json()
    assert key not in json.dumps(listed)
    assert httpx.delete(
        f"{secured.query_url}/api/v1/projects/{a.project_id}/keys/{created['id']}", headers=user
    ).status_code in (200, 204)
    refused = send_http(secured, {"X-API-Key": key})
    assert refused.status_code == 401 and "revoked" in Status.FromString(refused.content).message


def test_a_project_cannot_manage_another_projects_keys(secured: PrelaServer, tenants: dict) -> None:
    b_user = {"Authorization": f"Bearer {tenants['b'].token()}"}
    response = get(secured, f"/api/v1/projects/{tenants['a'].project_id}/keys", b_user)
    assert response.status_code == 404


def test_cors_preflight_from_an_allowed_origin(secured: PrelaServer) -> None:
    response = httpx.options(
        f"{secured.query_url}/api/v1/traces",
        headers={"Origin": "https://dashboard.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://dashboard.example"
    other = httpx.get(f"{secured.query_url}/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_no_key_or_token_appears_in_logs_or_metrics(secured: PrelaServer, tenants: dict, sent: dict) -> None:
    metrics = httpx.get(f"{secured.ingest_url}/metrics").text + httpx.get(f"{secured.query_url}/metrics").text
    log = secured.log()
    for tenant in tenants.values():
        secret = tenant.key.rsplit("_", 1)[1]
        assert secret not in log and secret not in metrics
        assert tenant.token().split(".")[0] + "." not in log  # no JWT (header.payload...) in the log
    assert JWT_SECRET not in log
    assert "auth: mode=required store=postgres" in log


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, server_env: dict, tenants: dict) -> None:
    server = start_prela_serve(
        tmp_path / "data",
        env={**server_env, "PRELA_RATE_LIMIT_SPANS_PER_SECOND": "5", "PRELA_RATE_LIMIT_BURST": "10",
             "REDIS_URL": ""},
    )  # fmt: skip
    try:
        key = {"X-API-Key": tenants["a"].key}
        body = request_of(*(span(os.urandom(16), os.urandom(8)) for _ in range(10))).SerializeToString()
        assert send_http(server, key, body).status_code == 200
        limited = send_http(server, key, body)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        with pytest.raises(grpc.RpcError) as caught:
            send_grpc(server, (("x-api-key", tenants["a"].key),), body)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


def test_sessions_users_stats_spans_and_search_stay_in_their_project(
    secured: PrelaServer, tenants: dict, sent: dict
) -> None:
    a_key, b_key = {"X-API-Key": tenants["a"].key}, {"X-API-Key": tenants["b"].key}
    llm = span(os.urandom(16), os.urandom(8), "chat secretword")
    for key, value in (("session.id", "sess-a"), ("user.id", "user-a"), ("gen_ai.request.model", "gpt-4o")):
        llm.attributes.add(key=key).value.string_value = value
    llm.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = 7
    assert send_http(secured, a_key, request_of(llm).SerializeToString()).status_code == 200
    wait_visible(secured, llm.trace_id.hex(), a_key)
    window = {"since": "2023-11-14T00:00:00Z", "until": "2023-11-16T00:00:00Z"}

    assert [s["session_id"] for s in get(secured, "/api/v1/sessions", a_key).json()["sessions"]] == ["sess-a"]
    assert [u["user_id"] for u in get(secured, "/api/v1/users", a_key).json()["users"]] == ["user-a"]
    assert get(secured, "/api/v1/traces", a_key, q="secretword").json()["traces"]
    assert get(secured, "/api/v1/spans", a_key, q="secretword").json()["spans"]
    assert get(secured, "/api/v1/stats", a_key, **window).json()["totals"]["input_tokens"] == 7

    assert get(secured, "/api/v1/sessions", b_key).json()["sessions"] == []
    assert get(secured, "/api/v1/sessions/sess-a", b_key).status_code == 404
    assert get(secured, "/api/v1/users", b_key).json()["users"] == []
    assert get(secured, "/api/v1/traces", b_key, q="secretword").json()["traces"] == []
    assert get(secured, "/api/v1/traces", b_key, session_id="sess-a").json()["traces"] == []
    assert get(secured, "/api/v1/spans", b_key, q="secretword").json()["spans"] == []
    b_stats = get(secured, "/api/v1/stats", b_key, group_by="model", **window).json()
    assert b_stats["totals"]["input_tokens"] == 0  # B's own span only, A's LLM call not counted
    assert [s["group"] for s in b_stats["series"]] == [""]
    for path in ("/api/v1/sessions", "/api/v1/users", "/api/v1/spans", "/api/v1/stats"):
        assert get(secured, path, {}).status_code == 401


def genai_log(trace_id: str, span_id: str, content: str) -> dict[str, object]:
    body = {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": content}}]}}
    record = {"eventName": "gen_ai.user.message", "traceId": trace_id, "spanId": span_id, "body": body}
    return {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}


def test_logs_and_metrics_need_a_key_and_stay_in_their_project(secured: PrelaServer, tenants: dict) -> None:
    a_key, b_key = {"X-API-Key": tenants["a"].key}, {"X-API-Key": tenants["b"].key}
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    metric = {
        "name": "tenant.metric",
        "gauge": {"dataPoints": [{"timeUnixNano": str(time.time_ns()), "asDouble": 1}]},
    }
    metrics = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [metric]}]}]}
    for path, body in (("/v1/logs", genai_log(trace_id, span_id, "hi")), ("/v1/metrics", metrics)):
        refused = httpx.post(f"{secured.ingest_url}{path}", json=body, headers={"X-API-Key": "not-a-key"})
        assert refused.status_code == 401 and "malformed" in refused.json()["message"].lower()
    for service in ("logs.v1.LogsService", "metrics.v1.MetricsService"):
        with grpc.insecure_channel(secured.grpc_endpoint) as channel:
            call = channel.unary_unary(f"/opentelemetry.proto.collector.{service}/Export")
            with pytest.raises(grpc.RpcError) as caught:
                call(b"", timeout=30)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

    span_body = request_of(span(bytes.fromhex(trace_id), bytes.fromhex(span_id))).SerializeToString()
    assert send_http(secured, a_key, span_body).status_code == 200
    for key, content in ((a_key, "from a"), (b_key, "from b, same ids")):
        response = httpx.post(
            f"{secured.ingest_url}/v1/logs", json=genai_log(trace_id, span_id, content), headers=key
        )
        assert response.status_code == 200
    assert httpx.post(f"{secured.ingest_url}/v1/metrics", json=metrics, headers=a_key).status_code == 200
    deadline = time.monotonic() + 20
    trace: dict = {}
    while time.monotonic() < deadline and len(trace.get("logs", [])) < 1:
        response = get(secured, f"/api/v1/traces/{trace_id}", a_key)
        trace = response.json() if response.status_code == 200 else {}
        time.sleep(0.1)
    assert [log["body"] for log in trace["logs"]] == [{"content": "from a"}]
    assert json.loads(trace["spans"][0]["input"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "from a"}]}
    ]
    names_a: list[str] = []
    while time.monotonic() < deadline and "tenant.metric" not in names_a:
        names_a = [m["name"] for m in get(secured, "/api/v1/metrics", a_key).json()["metrics"]]
    assert "tenant.metric" in names_a
    names_b = [m["name"] for m in get(secured, "/api/v1/metrics", b_key).json()["metrics"]]
    assert "tenant.metric" not in names_b
