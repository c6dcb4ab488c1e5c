"""Config validation names the field; Clerk keys give the JWKS; AuthRuntime composes everything."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from prela.auth.config import AuthConfig, JwtConfig, RateLimitConfig, clerk_frontend_api, clerk_jwks
from prela.auth.runtime import AuthRuntime

from .conftest import REDIS_URL


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: JwtConfig(), "jwks_url"),
        (lambda: JwtConfig(secret="short"), "jwt.secret"),
        (lambda: JwtConfig(secret="-----BEGIN PUBLIC KEY-----" + "x" * 40), "jwt.secret"),
        (lambda: JwtConfig(jwks_url="http://clerk.example.com/jwks"), "jwt.jwks_url"),
        (lambda: JwtConfig(jwks_url="https://c.test/jwks", algorithms=("HS256",)), "jwt.algorithms"),
        (lambda: JwtConfig(jwks_url="https://c.test/jwks", algorithms=("none",)), "jwt.algorithms"),
        (lambda: JwtConfig(jwks_url="https://c.test/jwks", project_claims=("o..id",)), "jwt.project_claims"),
        (lambda: JwtConfig(jwks_url="https://c.test/jwks", leeway_s=3600), "jwt.leeway_s"),
        (lambda: AuthConfig(mode="maybe"), "mode"),  # type: ignore[arg-type]
        (lambda: AuthConfig(mode="off", database_url="postgresql://db/x"), "mode"),
        (lambda: AuthConfig(database_url="mysql://db/x"), "database_url"),
        (lambda: AuthConfig(redis_url="http://r"), "redis_url"),
        (lambda: AuthConfig(key_cache_ttl_s=60), "key_cache_ttl_s"),
        (lambda: AuthConfig(default_project="bad id"), "default_project"),
        (lambda: RateLimitConfig(spans_per_second=-1), "rate_limit.spans_per_second"),
        (lambda: RateLimitConfig(spans_per_second=10, burst=0), "rate_limit.burst"),
    ],
)
def test_invalid_config_errors_name_the_field(build, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as raised:
        build()
    assert str(raised.value).startswith(field) or f"{field} " in str(raised.value)


def test_secrets_are_not_in_reprs() -> None:
    config = AuthConfig(database_url="postgresql://u:pw@db/x", jwt=JwtConfig(secret="S" * 40))
    assert "pw" not in repr(config) and "S" * 40 not in repr(config)


def test_clerk_publishable_key_gives_frontend_api_jwks_and_issuer() -> None:
    publishable = "pk_test_" + base64.b64encode(b"happy-cat-12.clerk.accounts.dev$").decode().rstrip("=")
    assert clerk_frontend_api(publishable) == "happy-cat-12.clerk.accounts.dev"
    derived = clerk_jwks(publishable, None)
    assert derived is not None
    assert derived.jwks_url == "https://happy-cat-12.clerk.accounts.dev/.well-known/jwks.json"
    assert derived.issuer == "https://happy-cat-12.clerk.accounts.dev"
    backend = clerk_jwks(None, "sk_test_abc")
    assert backend is not None and dict(backend.headers) == {"Authorization": "Bearer sk_test_abc"}
    assert clerk_jwks(None, None) is None
    with pytest.raises(ValueError, match="CLERK_PUBLISHABLE_KEY"):
        clerk_frontend_api("pk_test_bm90LWEtaG9zdA")  # "not-a-host" without the '$'


@pytest.mark.integration
async def test_runtime_starts_describes_and_closes(tmp_path: Path, redis_prefix: str) -> None:
    config = AuthConfig(
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        jwt=JwtConfig(secret="x" * 32),
        rate_limit=RateLimitConfig(spans_per_second=100),
    )
    runtime = await AuthRuntime.start(config, tmp_path)
    try:
        assert "store=sqlite redis=on jwt=hs256" in runtime.describe() and "burst=200" in runtime.describe()
        await runtime.store.create_project("P", project_id="p1")
        key, _ = await runtime.store.create_key("p1")
        principal = await runtime.ingest.authenticate({"X-API-Key": key})
        assert (await runtime.rate_limiter.acquire(principal.rate_key, 150)).allowed
        assert not (await runtime.rate_limiter.acquire(principal.rate_key, 150)).allowed
    finally:
        await runtime.close()
    off = await AuthRuntime.start(AuthConfig(mode="off"), tmp_path)
    assert off.describe().startswith("mode=off project=default")
    assert (await off.query.authenticate({})).project_id == "default"
    await off.close()
