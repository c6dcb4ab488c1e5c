"""Errors of the auth package and what a receiver answers for each."""

from __future__ import annotations


class Unauthenticated(Exception):
    """Credentials are missing, malformed, unknown, revoked or invalid: HTTP 401 / gRPC UNAUTHENTICATED.

    The message is safe to send to the client: it never contains the key or token itself.
    """

    http_status = 401
    grpc_status_name = "UNAUTHENTICATED"
    # RFC 6750: a 401 names the scheme the client should use.
    www_authenticate = 'Bearer realm="prela"'

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(Exception):
    """Authenticated, but this principal may not do this: HTTP 403."""

    http_status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthUnavailable(Exception):
    """The key store (or JWKS endpoint) cannot be reached: retryable, HTTP 503 / gRPC UNAVAILABLE.

    Never an auth failure: a client with a good key retries and succeeds once the store is back.
    """

    http_status = 503
    grpc_status_name = "UNAVAILABLE"


class MalformedKey(ValueError):
    """The text is not a Prela API key (`pk_<project_id>_<secret>`)."""


class InvalidProjectId(ValueError):
    """A project id does not match `PROJECT_ID_PATTERN`."""


class InvalidName(ValueError):
    """A project or key name is empty, too long or has control characters."""


class ProjectExists(ValueError):
    """`create_project` with an id that is taken."""


class ProjectNotFound(LookupError):
    """An operation names a project the store does not hold."""


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or is locked (the cause is chained)."""
