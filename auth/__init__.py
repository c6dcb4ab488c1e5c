"""Projects, API keys and user tokens: every span and every query belongs to exactly one project.

Shared by the collector (ingest auth, rate limits) and the query API (JWT or API key, key
management); it depends on nothing else of Prela. The server composes it from `AuthConfig`
with `AuthRuntime.start(config, data_dir)`.
"""

from prela.auth.config import (
    AuthConfig,
    ClerkJwks,
    JwtConfig,
    RateLimitConfig,
    clerk_frontend_api,
    clerk_jwks,
)
from prela.auth.errors import (
    AuthUnavailable,
    Forbidden,
    InvalidName,
    InvalidProjectId,
    MalformedKey,
    ProjectExists,
    ProjectNotFound,
    StoreUnavailable,
    Unauthenticated,
)
from prela.auth.headers import grpc_metadata_headers
from prela.auth.ingest import IngestAuthenticator
from prela.auth.query import QueryAuthenticator
from prela.auth.ratelimit import (
    InProcessRateLimiter,
    RateDecision,
    RateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)
from prela.auth.records import PROJECT_ID_PATTERN, KeyInfo, Principal, Project, validate_project_id
from prela.auth.runtime import AuthRuntime
from prela.auth.store import ProjectStore, build_store, open_store

__all__ = [
    "PROJECT_ID_PATTERN",
    "AuthConfig",
    "AuthRuntime",
    "AuthUnavailable",
    "ClerkJwks",
    "Forbidden",
    "InProcessRateLimiter",
    "IngestAuthenticator",
    "InvalidName",
    "InvalidProjectId",
    "JwtConfig",
    "KeyInfo",
    "MalformedKey",
    "Principal",
    "Project",
    "ProjectExists",
    "ProjectNotFound",
    "ProjectStore",
    "QueryAuthenticator",
    "RateDecision",
    "RateLimitConfig",
    "RateLimiter",
    "RedisRateLimiter",
    "StoreUnavailable",
    "Unauthenticated",
    "build_rate_limiter",
    "build_store",
    "clerk_frontend_api",
    "clerk_jwks",
    "grpc_metadata_headers",
    "open_store",
    "validate_project_id",
]
