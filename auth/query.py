"""Query API authentication: a user's JWT (JWKS or HS256 JWT_SECRET) or an API key → Principal.

The token header's `alg` only picks among what the configuration pins: an asymmetric
algorithm from `JwtConfig.algorithms` is verified with the JWKS key of the token's `kid` (and
that key's own algorithm must match), HS256 only with JWT_SECRET. Anything else — `none`,
HS256 without a secret, HS384, an algorithm the JWKS key was not made for — is refused, so
an HS256 token "signed" with the RSA public key never meets that key.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKError

from prela.auth.config import ASYMMETRIC_ALGORITHMS, JwtConfig
from prela.auth.errors import AuthUnavailable, InvalidProjectId, Unauthenticated
from prela.auth.headers import Headers, bearer_token, header
from prela.auth.ingest import IngestAuthenticator
from prela.auth.keys import KEY_PREFIX, looks_like_api_key
from prela.auth.records import Principal, validate_project_id

logger = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 16 * 1024


def claim_at(claims: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`o.id`, `public_metadata.project_id`), None when absent."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def project_from_claims(claims: dict[str, Any], paths: tuple[str, ...]) -> str:
    """The project id at the first of `paths` present in the claims; `Unauthenticated` when none is."""
    for path in paths:
        value = claim_at(claims, path)
        if value is None or value == "":
            continue
        try:
            return validate_project_id(value)
        except InvalidProjectId:
            raise Unauthenticated(f"token claim {path!r} is not a valid project id") from None
    raise Unauthenticated(
        f"token has no project claim (looked for {', '.join(paths)}); "
        "select an organisation or add the claim to the JWT template"
    )


_TOKEN_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token has expired"),
    (jwt.ImmatureSignatureError, "token is not yet valid (nbf/iat in the future)"),
    (jwt.InvalidIssuerError, "token issuer is not accepted"),
    (jwt.InvalidAudienceError, "token audience is not accepted"),
    (jwt.InvalidSignatureError, "token signature is invalid"),
    (jwt.InvalidAlgorithmError, "token algorithm is not accepted"),
    (jwt.InvalidKeyError, "token cannot be verified with the configured key"),
)


def _token_error(exc: jwt.PyJWTError) -> Unauthenticated:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return Unauthenticated(f"token is missing the required {exc.claim!r} claim")
    for kind, message in _TOKEN_ERRORS:
        if isinstance(exc, kind):
            return Unauthenticated(message)
    return Unauthenticated(f"invalid token: {str(exc)[:120]}")


class QueryAuthenticator:
    """`authenticate(headers) -> Principal` for the query API: exactly one project per request."""

    def __init__(
        self,
        jwt_config: JwtConfig | None,
        api_keys: IngestAuthenticator | None,
        *,
        mode: str = "required",
        default_project: str = "default",
        jwks_client: PyJWKClient | None = None,
    ) -> None:
        self._config = jwt_config
        self._api_keys = api_keys
        self._off = mode == "off"
        self._default_project = default_project
        self._jwks: PyJWKClient | None = jwks_client
        if self._jwks is None and jwt_config is not None and jwt_config.jwks_url:
            self._jwks = PyJWKClient(
                jwt_config.jwks_url,
                # The JWK set is cached with a lifespan (rotations are picked up); the per-kid LRU
                # is off because it never expires, so a withdrawn signing key would live on.
                cache_keys=False,
                cache_jwk_set=True,
                lifespan=jwt_config.jwks_cache_s,
                headers=dict(jwt_config.jwks_headers),
                timeout=jwt_config.jwks_timeout_s,
            )

    async def authenticate(self, headers: Headers) -> Principal:
        if self._off:
            return Principal(self._default_project, None, method="off")
        api_key = header(headers, "x-api-key")
        if api_key:
            return await self._by_key(api_key)
        token = bearer_token(headers)
        if token is None:
            raise Unauthenticated(
                f"missing credentials: send Authorization: Bearer <token> or X-API-Key: {KEY_PREFIX}…"
            )
        if looks_like_api_key(token):
            return await self._by_key(token)
        return await self.authenticate_token(token)

    async def _by_key(self, key: str) -> Principal:
        if self._api_keys is None:
            raise Unauthenticated("API keys are not accepted here; send a user token")
        return await self._api_keys.authenticate_key(key)

    async def authenticate_token(self, token: str) -> Principal:
        """Verify a JWT and take its project from the configured claim."""
        config = self._config
        if config is None:
            raise Unauthenticated(f"user tokens are not configured here; send an API key ({KEY_PREFIX}…)")
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated(f"token longer than {MAX_TOKEN_LENGTH} characters")
        try:
            token_header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token: not a JWT") from None
        alg = token_header.get("alg")
        key: PyJWK | str
        if alg == "HS256" and config.secret:
            key = config.secret
        elif (
            isinstance(alg, str) and alg in config.algorithms and alg in ASYMMETRIC_ALGORITHMS and self._jwks
        ):
            key = await self._signing_key(token, alg)
        else:
            accepted = [a for a in config.algorithms if self._jwks] + (["HS256"] if config.secret else [])
            raise Unauthenticated(
                f"token algorithm {str(alg)[:20]!r} is not accepted (accepted: {', '.join(accepted)})"
            )
        require = ["exp"] + (["iss"] if config.issuer else []) + (["aud"] if config.audience else [])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],  # exactly the one pinned algorithm chosen above
                issuer=config.issuer,
                audience=list(config.audience) or None,
                leeway=config.leeway_s,
                options={"require": require, "verify_signature": True},
            )
        except jwt.PyJWTError as exc:
            error = _token_error(exc)
            logger.info(
                "query token refused reason=%r kid=%s", error.message, str(token_header.get("kid"))[:64]
            )
            raise error from None
        if config.authorized_parties:
            azp = claims.get("azp")
            if azp is not None and azp not in config.authorized_parties:
                raise Unauthenticated("token authorized party (azp) is not accepted")
        project_id = project_from_claims(claims, config.project_claims)
        subject = claims.get("sub")
        return Principal(
            project_id, None, subject=subject if isinstance(subject, str) else None, method="jwt"
        )

    async def _signing_key(self, token: str, alg: str) -> PyJWK:
        if self._jwks is None:
            raise RuntimeError("JWKS verification without a JWKS client")
        try:
            # PyJWKClient fetches over blocking urllib: off the event loop.
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except PyJWKClientConnectionError as exc:
            logger.warning("jwks fetch failed error=%r", str(exc)[:200])
            raise AuthUnavailable("the token signing keys cannot be fetched, retry later") from exc
        except (PyJWKClientError, PyJWKError, jwt.PyJWTError):
            raise Unauthenticated("token signing key (kid) is unknown") from None
        # The JWKS key decides the algorithm, the token header only proposes it.
        if signing_key.algorithm_name != alg:
            raise Unauthenticated(
                f"token algorithm {alg} does not match its signing key ({signing_key.algorithm_name})"
            )
        return signing_key
