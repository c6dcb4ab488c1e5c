"""QueryAuthenticator: JWTs from a local JWKS (RS256, ES256) and HS256 JWT_SECRET, and every bad token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from prela.auth.config import JwtConfig
from prela.auth.errors import Unauthenticated
from prela.auth.ingest import IngestAuthenticator
from prela.auth.query import QueryAuthenticator
from prela.auth.store import ProjectStore, build_store

from .conftest import Jwks

ISSUER = "https://clerk.prela.test"
SECRET = "s" * 16 + "0123456789abcdef0123456789abcdef"


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "user_1",
        "iss": ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "org_id": "org_A1",
        **extra,
    }


def rs256(jwks: Jwks, payload: dict[str, Any], kid: str = "rsa-1") -> str:
    return jwt.encode(payload, jwks.rsa_key, algorithm="RS256", headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """A token built by hand (what an attacker can do): `none` or HS256 with any bytes as the secret."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = b"" if secret is None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ProjectStore]:
    store = build_store(None, tmp_path)
    await store.start()
    yield store
    await store.close()


def authenticator(jwks: Jwks, store: ProjectStore | None = None, **config: Any) -> QueryAuthenticator:
    settings: dict[str, Any] = {"jwks_url": jwks.url, "issuer": ISSUER, **config}
    api_keys = IngestAuthenticator(store) if store is not None else None
    return QueryAuthenticator(JwtConfig(**settings), api_keys)


async def test_rs256_token_from_the_jwks_gives_the_org_project(jwks: Jwks) -> None:
    principal = await authenticator(jwks).authenticate({"Authorization": f"Bearer {rs256(jwks, claims())}"})
    assert (principal.project_id, principal.key_id, principal.subject, principal.method) == (
        "org_A1",
        None,
        "user_1",
        "jwt",
    )


async def test_es256_token_from_the_jwks_is_accepted(jwks: Jwks) -> None:
    token = jwt.encode(claims(), jwks.ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert (
        await authenticator(jwks).authenticate({"authorization": f"Bearer {token}"})
    ).project_id == "org_A1"


async def test_hs256_jwt_secret_is_accepted(jwks: Jwks) -> None:
    auth = QueryAuthenticator(JwtConfig(secret=SECRET), None)
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert (await auth.authenticate({"Authorization": f"Bearer {token}"})).project_id == "org_A1"


@pytest.mark.parametrize(
    ("claim_paths", "payload", "project"),
    [
        (("org_id", "o.id"), {"o": {"id": "org_V2", "rol": "admin"}}, "org_V2"),  # Clerk session token v2
        (("public_metadata.project_id",), {"public_metadata": {"project_id": "proj_abc123"}}, "proj_abc123"),
    ],
)
async def test_project_comes_from_the_configured_claim_path(
    jwks: Jwks, claim_paths: tuple[str, ...], payload: dict[str, Any], project: str
) -> None:
    body = {k: v for k, v in claims(**payload).items() if k != "org_id"}
    auth = authenticator(jwks, project_claims=claim_paths)
    assert (await auth.authenticate({"Authorization": f"Bearer {rs256(jwks, body)}"})).project_id == project


async def test_api_key_reads_its_own_project(jwks: Jwks, store: ProjectStore) -> None:
    await store.create_project("B", project_id="proj_b")
    key, info = await store.create_key("proj_b")
    auth = authenticator(jwks, store)
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        principal = await auth.authenticate(headers)
        assert (principal.project_id, principal.key_id, principal.method) == ("proj_b", info.id, "api_key")


def _bad_tokens(jwks: Jwks) -> dict[str, tuple[str, str]]:
    now = int(time.time())
    public_pem = jwks.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    other_key_token = jwt.encode(claims(), SECRET, algorithm="HS384")
    return {
        "expired": (rs256(jwks, claims(exp=now - 120, iat=now - 180, nbf=now - 180)), "token has expired"),
        "not yet valid": (rs256(jwks, claims(nbf=now + 120)), "not yet valid"),
        "no exp": (rs256(jwks, {k: v for k, v in claims().items() if k != "exp"}), "'exp' claim"),
        "wrong issuer": (rs256(jwks, claims(iss="https://evil.test")), "issuer is not accepted"),
        "no issuer": (rs256(jwks, {k: v for k, v in claims().items() if k != "iss"}), "'iss' claim"),
        "bad signature": (rs256(jwks, claims())[:-6] + "AAAAAA", "signature is invalid"),
        "tampered payload": (
            rs256(jwks, claims()).split(".")[0]
            + "."
            + _b64(json.dumps(claims(org_id="org_VICTIM")).encode())
            + "."
            + rs256(jwks, claims()).split(".")[2],
            "signature is invalid",
        ),
        "alg none": (hand_signed({"alg": "none", "typ": "JWT"}, claims(), None), "'none' is not accepted"),
        "alg None with kid": (hand_signed({"alg": "None", "kid": "rsa-1"}, claims(), None), "not accepted"),
        "hs256 with the rsa public key (confusion)": (
            hand_signed({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, claims(), public_pem),
            "'HS256' is not accepted",
        ),
        "hs384": (other_key_token, "'HS384' is not accepted"),
        "unknown kid": (rs256(jwks, claims(), kid="rotated-away"), "signing key (kid) is unknown"),
        "alg/key mismatch": (
            jwt.encode(claims(), jwks.ec_key, algorithm="ES256", headers={"kid": "rsa-1"}),
            "does not match its signing key",
        ),
        "no project claim": (
            rs256(jwks, {k: v for k, v in claims().items() if k != "org_id"}),
            "no project claim",
        ),
        "invalid project claim": (rs256(jwks, claims(org_id="../../etc")), "not a valid project id"),
        "not a jwt": ("definitely-not-a-token", "malformed token"),
    }


BAD_CASES = [
    "expired",
    "not yet valid",
    "no exp",
    "wrong issuer",
    "no issuer",
    "bad signature",
    "tampered payload",
    "alg none",
    "alg None with kid",
    "hs256 with the rsa public key (confusion)",
    "hs384",
    "unknown kid",
    "alg/key mismatch",
    "no project claim",
    "invalid project claim",
    "not a jwt",
]


@pytest.mark.parametrize("case", BAD_CASES)
async def test_bad_tokens_are_refused(jwks: Jwks, case: str) -> None:
    token, message = _bad_tokens(jwks)[case]
    with pytest.raises(Unauthenticated) as raised:
        await authenticator(jwks).authenticate({"Authorization": f"Bearer {token}"})
    assert message in raised.value.message
    assert token not in raised.value.message


async def test_algorithm_confusion_fails_even_with_a_jwt_secret_configured(jwks: Jwks) -> None:
    public_pem = jwks.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = hand_signed({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, claims(), public_pem)
    auth = authenticator(jwks, secret=SECRET)  # both modes: HS256 is tried with JWT_SECRET only
    with pytest.raises(Unauthenticated, match="signature is invalid"):
        await auth.authenticate({"Authorization": f"Bearer {token}"})
    # while a real HS256 token and a real RS256 token both pass
    assert (
        await auth.authenticate({"Authorization": f"Bearer {jwt.encode(claims(), SECRET, 'HS256')}"})
    ).method == "jwt"
    assert (await auth.authenticate({"Authorization": f"Bearer {rs256(jwks, claims())}"})).method == "jwt"


async def test_audience_is_checked_when_configured(jwks: Jwks) -> None:
    auth = authenticator(jwks, audience=("prela-dashboard",))
    ok = rs256(jwks, claims(aud="prela-dashboard"))
    assert (await auth.authenticate({"Authorization": f"Bearer {ok}"})).project_id == "org_A1"
    for token, message in (
        (rs256(jwks, claims(aud="someone-else")), "audience is not accepted"),
        (rs256(jwks, claims()), "'aud' claim"),
    ):
        with pytest.raises(Unauthenticated, match=message):
            await auth.authenticate({"Authorization": f"Bearer {token}"})


async def test_authorized_party_is_checked_when_configured(jwks: Jwks) -> None:
    auth = authenticator(jwks, authorized_parties=("https://app.prela.dev",))
    good = rs256(jwks, claims(azp="https://app.prela.dev"))
    assert (await auth.authenticate({"Authorization": f"Bearer {good}"})).project_id == "org_A1"
    with pytest.raises(Unauthenticated, match="azp"):
        await auth.authenticate({"Authorization": f"Bearer {rs256(jwks, claims(azp='https://evil.test'))}"})


async def test_jwks_is_fetched_once_and_cached(jwks: Jwks) -> None:
    auth = authenticator(jwks)
    before = len(jwks.requests)
    for _ in range(5):
        await auth.authenticate({"Authorization": f"Bearer {rs256(jwks, claims())}"})
    assert len(jwks.requests) - before == 1


async def test_missing_credentials_and_unconfigured_modes(jwks: Jwks) -> None:
    with pytest.raises(Unauthenticated, match="missing credentials"):
        await authenticator(jwks).authenticate({})
    with pytest.raises(Unauthenticated, match="API keys are not accepted"):
        await authenticator(jwks).authenticate({"X-API-Key": "pk_proj_b_" + "x" * 40})
    with pytest.raises(Unauthenticated, match="user tokens are not configured"):
        await QueryAuthenticator(None, None).authenticate(
            {"Authorization": f"Bearer {rs256(jwks, claims())}"}
        )
    principal = await QueryAuthenticator(None, None, mode="off", default_project="default").authenticate({})
    assert principal.project_id == "default" and principal.method == "off"
