"""Real parts for the auth tests: a fresh Postgres database per test, SQLite in a tmp dir, Redis
with a random key prefix (deleted after), and a local JWKS HTTP server serving generated keys."""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from prela.auth.store import ProjectStore, build_store

REDIS_URL = "redis://127.0.0.1:6379/0"


def pg_dsn(database: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{database}"


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty Postgres database (its DSN), dropped after the test."""
    name = f"prela_test_{secrets.token_hex(6)}"
    _psql(f'CREATE DATABASE "{name}"')
    try:
        yield pg_dsn(name)
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ProjectStore]:
    """Each backend, started, through the one interface."""
    if request.param == "postgres":
        dsn_gen = request.getfixturevalue("pg_database")
        database_url: str | None = dsn_gen
    else:
        database_url = None
    store = build_store(database_url, tmp_path, last_used_flush_s=60)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A random key prefix in the real Redis; every key under it is deleted after the test."""
    prefix = f"prela-test-{secrets.token_hex(6)}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@dataclass
class Jwks:
    """A JWKS endpoint on 127.0.0.1 and the private keys behind it."""

    url: str
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    requests: list[str] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec_key.public_key()))
        return {
            "keys": [
                {**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
                {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"},
                *self.extra,
            ]
        }


@pytest.fixture(scope="session")
def jwks() -> Iterator[Jwks]:
    state: dict[str, Jwks] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server = state["jwks"]
            server.requests.append(self.path)
            body = json.dumps(server.document()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["jwks"] = Jwks(
        url=f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json",
        rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec_key=ec.generate_private_key(ec.SECP256R1()),
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state["jwks"]
    httpd.shutdown()
    httpd.server_close()
