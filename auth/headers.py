"""Credentials in request headers, shared by ingest and query auth: `X-API-Key` and `Authorization: Bearer`.

Works on Starlette `Headers` and on plain dicts (gRPC metadata via `grpc_metadata_headers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prela.auth.errors import Unauthenticated
from prela.auth.keys import KEY_PREFIX

Headers = Mapping[str, str]

MISSING_KEY = (
    f"missing API key: send it as X-API-Key: {KEY_PREFIX}… or Authorization: Bearer {KEY_PREFIX}… "
    "(OTel exporters: OTEL_EXPORTER_OTLP_HEADERS=x-api-key=pk_…)"
)


def header(headers: Headers, name: str) -> str | None:
    """A header by case-insensitive name, from Starlette `Headers` or a plain dict (e.g. gRPC metadata)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value.strip() if isinstance(value, str) else None


def grpc_metadata_headers(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    """`context.invocation_metadata()` as a dict of text headers (binary `-bin` entries are skipped)."""
    return {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}


def bearer_token(headers: Headers) -> str | None:
    """The credential of `Authorization: Bearer …`; `Unauthenticated` for another scheme."""
    value = header(headers, "authorization")
    if not value:
        return None
    scheme, _, credential = value.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated(f"unsupported Authorization scheme {scheme[:20]!r}: use Bearer")
    credential = credential.strip()
    if not credential:
        raise Unauthenticated("Authorization: Bearer has no credential")
    return credential


def api_key_of(headers: Headers) -> str:
    """The API key a request carries; `Unauthenticated` when there is none."""
    key = header(headers, "x-api-key") or bearer_token(headers)
    if not key:
        raise Unauthenticated(MISSING_KEY)
    return key
