"""Typed, validated configuration of auth. Nothing here reads the environment (server/settings.py does).

Every error names the field that is wrong, the value (secrets excepted) and what is expected.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from prela.auth.errors import InvalidProjectId
from prela.auth.records import validate_project_id

AuthMode = Literal["required", "off"]

# Asymmetric JWS algorithms a JWKS may pin. HMAC (HS*) is never taken from a JWKS and `none` never at all.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_ALGORITHMS = ("RS256", "ES256")
# org_id: Clerk session token v1 (and most JWT templates); o.id: Clerk session token v2.
DEFAULT_PROJECT_CLAIMS = ("org_id", "o.id")
MIN_JWT_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output
MAX_KEY_CACHE_TTL_S = 15.0  # cache in-process + cache in Redis ≤ 2 x 15 s: revocation seen within 30 s
CLERK_BACKEND_JWKS_URL = "https://api.clerk.com/v1/jwks"


def _positive(name: str, value: float, *, allow_zero: bool = False, upper: float | None = None) -> None:
    ok = isinstance(value, int | float) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if ok and upper is not None:
        ok = value <= upper
    if not ok:
        bound = f"{'>= 0' if allow_zero else '> 0'}" + (f" and <= {upper:g}" if upper is not None else "")
        raise ValueError(f"{name} must be a number {bound}, got {value!r}")


def _http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{name} must be an https:// URL, got {value!r}")
    # Plain http only to this machine (tests, a sidecar): keys fetched in clear could be swapped.
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ValueError(f"{name} must use https (http is accepted for localhost only), got {value!r}")


@dataclass(frozen=True, slots=True)
class JwtConfig:
    """How the query API verifies user tokens: a JWKS (Clerk, any OIDC issuer), an HS256 secret, or both."""

    jwks_url: str | None = None
    secret: str | None = field(default=None, repr=False)  # JWT_SECRET, HS256 only
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    project_claims: tuple[str, ...] = DEFAULT_PROJECT_CLAIMS  # dotted paths, the first present wins
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS  # pinned for JWKS keys
    leeway_s: float = 5.0  # clock skew allowed on exp / nbf / iat (Clerk's own default is 5 s)
    authorized_parties: tuple[str, ...] = ()  # Clerk `azp`: the dashboard origins, checked when set
    jwks_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    jwks_cache_s: float = 300.0
    jwks_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.jwks_url and not self.secret:
            raise ValueError("jwt: set jwks_url (PRELA_JWKS_URL) or secret (JWT_SECRET), or both")
        if self.jwks_url:
            _http_url("jwt.jwks_url", self.jwks_url)
        if self.secret is not None:
            if len(self.secret.encode()) < MIN_JWT_SECRET_BYTES:
                raise ValueError(
                    f"jwt.secret must be at least {MIN_JWT_SECRET_BYTES} bytes "
                    f"(e.g. `openssl rand -hex 32`), got {len(self.secret.encode())}"
                )
            if "-----BEGIN" in self.secret or self.secret.lstrip().startswith(("{", "ssh-")):
                raise ValueError(
                    "jwt.secret looks like a public/private key; HS256 needs a random shared secret"
                )
        if not self.algorithms:
            raise ValueError("jwt.algorithms must name at least one algorithm, e.g. RS256,ES256")
        bad = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad:
            raise ValueError(
                f"jwt.algorithms may only pin asymmetric algorithms for JWKS keys "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}), got {', '.join(bad)}; "
                "HS256 is enabled by jwt.secret"
            )
        if not self.project_claims or any(
            not path or any(not part for part in path.split(".")) for path in self.project_claims
        ):
            raise ValueError(
                f"jwt.project_claims must be dotted claim paths like org_id or o.id, got {self.project_claims!r}"
            )
        if self.issuer is not None and not self.issuer:
            raise ValueError("jwt.issuer must not be empty (leave it unset to skip the check)")
        if any(not a for a in self.audience):
            raise ValueError(f"jwt.audience must not contain empty values, got {self.audience!r}")
        _positive("jwt.leeway_s", self.leeway_s, allow_zero=True, upper=60)
        _positive("jwt.jwks_cache_s", self.jwks_cache_s)
        _positive("jwt.jwks_timeout_s", self.jwks_timeout_s, upper=60)

    @property
    def modes(self) -> str:
        """`jwks`, `hs256` or `jwks+hs256`, for the start-up log."""
        return "+".join(m for m, on in (("jwks", self.jwks_url), ("hs256", self.secret)) if on)


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Token bucket per API key, counted in spans. `spans_per_second = 0` turns it off."""

    spans_per_second: float = 0.0
    burst: int | None = None  # bucket size; None: two seconds of the rate (at least 1)

    def __post_init__(self) -> None:
        _positive("rate_limit.spans_per_second", self.spans_per_second, allow_zero=True)
        if self.burst is not None and (not isinstance(self.burst, int) or self.burst < 1):
            raise ValueError(f"rate_limit.burst must be an integer >= 1, got {self.burst!r}")

    @property
    def enabled(self) -> bool:
        return self.spans_per_second > 0

    @property
    def capacity(self) -> int:
        if self.burst is not None:
            return self.burst
        return max(1, math.ceil(2 * self.spans_per_second))


def resolve_mode(auth: str | None, *, postgres: bool) -> str:
    """PRELA_AUTH when set, else `required` with a Postgres store (DATABASE_URL), else `off`."""
    return auth or ("required" if postgres else "off")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    mode: AuthMode = "required"
    default_project: str = "default"  # the project of everything while mode is off
    database_url: str | None = field(default=None, repr=False)  # Postgres; None: SQLite in the data dir
    redis_url: str | None = field(default=None, repr=False)
    key_cache_ttl_s: float = 15.0
    negative_cache_ttl_s: float = 5.0
    last_used_flush_s: float = 10.0
    redis_prefix: str = "prela:auth:"
    jwt: JwtConfig | None = None
    rate_limit: RateLimitConfig = field(default_factory=RateLimitConfig)

    def __post_init__(self) -> None:
        if self.mode not in ("required", "off"):
            raise ValueError(f"mode must be 'required' or 'off', got {self.mode!r}")
        try:
            validate_project_id(self.default_project)
        except InvalidProjectId as exc:
            raise ValueError(f"default_project: {exc}") from None
        if self.database_url is not None:
            scheme = self.database_url.partition("://")[0].split("+", 1)[0]
            if scheme not in ("postgres", "postgresql"):
                raise ValueError(
                    f"database_url must be a postgres:// or postgresql:// URL, got scheme {scheme!r}"
                )
            if self.mode == "off":
                # A shared Postgres store means a multi-tenant deployment: one open project would leak.
                raise ValueError("mode: auth cannot be 'off' when database_url (Postgres) is set")
        if self.redis_url is not None and urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"redis_url must be a redis://, rediss:// or unix:// URL, got scheme "
                f"{urlsplit(self.redis_url).scheme!r}"
            )
        _positive("key_cache_ttl_s", self.key_cache_ttl_s, allow_zero=True, upper=MAX_KEY_CACHE_TTL_S)
        _positive(
            "negative_cache_ttl_s", self.negative_cache_ttl_s, allow_zero=True, upper=MAX_KEY_CACHE_TTL_S
        )
        _positive("last_used_flush_s", self.last_used_flush_s)
        if not self.redis_prefix:
            raise ValueError("redis_prefix must not be empty")


@dataclass(frozen=True, slots=True)
class ClerkJwks:
    """Where Clerk's signing keys are, derived from CLERK_PUBLISHABLE_KEY or CLERK_SECRET_KEY."""

    jwks_url: str
    issuer: str | None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


def clerk_frontend_api(publishable_key: str) -> str:
    """The Frontend API host in a Clerk publishable key: `pk_(test|live)_` + base64(`<host>$`)."""
    prefix, _, encoded = publishable_key.partition("_")[2].partition("_")
    if not publishable_key.startswith("pk_") or prefix not in ("test", "live") or not encoded:
        raise ValueError("CLERK_PUBLISHABLE_KEY must look like pk_test_… or pk_live_…")
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("CLERK_PUBLISHABLE_KEY does not hold a base64 Frontend API host") from None
    host = decoded.removesuffix("$")
    if not decoded.endswith("$") or not host or "/" in host or " " in host:
        raise ValueError(f"CLERK_PUBLISHABLE_KEY decodes to {decoded!r}, expected '<frontend-api-host>$'")
    return host


def clerk_jwks(publishable_key: str | None, secret_key: str | None) -> ClerkJwks | None:
    """Clerk's JWKS: from the publishable key (public, `https://<frontend-api>/.well-known/jwks.json`,
    issuer `https://<frontend-api>`), else from the Backend API with the secret key; None without either."""
    if publishable_key:
        host = clerk_frontend_api(publishable_key)
        return ClerkJwks(f"https://{host}/.well-known/jwks.json", f"https://{host}")
    if secret_key:
        return ClerkJwks(CLERK_BACKEND_JWKS_URL, None, (("Authorization", f"Bearer {secret_key}"),))
    return None
