"""Builds `prela.auth`'s configuration from the settings (the one place auth meets the environment)."""

from __future__ import annotations

from starlette.routing import Route

from prela.auth import AuthConfig, AuthRuntime, JwtConfig, KeyInfo, RateLimitConfig, clerk_jwks
from prela.auth.api import key_management_routes, request_principal
from prela.auth.config import resolve_mode
from prela.server.settings import ConfigurationError, Settings


def _items(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def jwt_config(settings: Settings) -> JwtConfig | None:  # raises ValueError naming the field
    """JWT_SECRET (HS256) and/or a JWKS: PRELA_JWKS_URL, else derived from the Clerk keys; None when neither."""
    jwks_url, issuer, headers = settings.jwks_url, settings.jwt_issuer, ()
    if not jwks_url and (settings.clerk_publishable_key or settings.clerk_secret_key):
        clerk = clerk_jwks(settings.clerk_publishable_key, settings.clerk_secret_key)
        if clerk is not None:
            jwks_url, issuer, headers = clerk.jwks_url, issuer or clerk.issuer, clerk.headers
    if not jwks_url and not settings.jwt_secret:
        return None
    return JwtConfig(
        jwks_url=jwks_url,
        secret=settings.jwt_secret,
        issuer=issuer,
        audience=_items(settings.jwt_audience),
        project_claims=_items(settings.jwt_project_claim),
        algorithms=_items(settings.jwt_algorithms),
        authorized_parties=_items(settings.jwt_authorized_parties),
        jwks_headers=tuple(headers),
    )


def auth_config(settings: Settings) -> AuthConfig:
    """PRELA_AUTH, else `required` when a Postgres store is configured, else `off` (one project)."""
    mode = resolve_mode(settings.auth_mode, postgres=bool(settings.database_url))
    try:
        return _auth_config(settings, mode)
    except ValueError as exc:
        raise ConfigurationError(f"auth: {exc}") from None


def _auth_config(settings: Settings, mode: str) -> AuthConfig:
    return AuthConfig(
        mode=mode,  # type: ignore[arg-type]
        default_project=settings.project_id,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        key_cache_ttl_s=settings.key_cache_ttl_s,
        jwt=jwt_config(settings),
        rate_limit=RateLimitConfig(
            spans_per_second=settings.rate_limit_spans_per_second, burst=settings.rate_limit_burst
        ),
    )


def key_routes(auth: AuthRuntime) -> list[Route]:
    """`/api/v1/projects/{id}/keys` on the query API; a revocation also clears the shared key cache."""

    async def forget(info: KeyInfo) -> None:
        await auth.ingest.forget_key(info.id)

    return key_management_routes(auth.store, request_principal, on_revoke=forget)
