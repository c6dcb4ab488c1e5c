"""The records the auth package hands out: projects, key metadata, the authenticated principal."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from prela.auth.errors import InvalidName, InvalidProjectId

# Lower and upper case: Clerk organisation ids (`org_2NNEqL2nrIRdJ194ndJqAHwEfxC`) are mixed-case
# and are used as project ids as they are. `_` is allowed (`proj_abc123`) because the key parser
# takes the secret from the *last* `_`-separated segment. Case-sensitive, 1 to 64 characters.
PROJECT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_PROJECT_ID = re.compile(PROJECT_ID_PATTERN)
MAX_NAME_LENGTH = 200


def validate_project_id(value: object) -> str:
    """`value` if it is a valid project id, else `InvalidProjectId` naming it."""
    if not isinstance(value, str) or not _PROJECT_ID.fullmatch(value):
        raise InvalidProjectId(
            f"invalid project id {value!r}: expected 1-64 letters, digits, '_' or '-', "
            f"starting with a letter or digit ({PROJECT_ID_PATTERN})"
        )
    return value


def validate_name(kind: str, value: object) -> str:
    """A project or key name: 1-200 characters, no control characters, surrounding space trimmed."""
    if not isinstance(value, str):
        raise InvalidName(f"{kind} name must be a string, got {type(value).__name__}")
    name = value.strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidName(
            f"invalid {kind} name {value[: MAX_NAME_LENGTH + 10]!r}: expected 1-{MAX_NAME_LENGTH} "
            "printable characters"
        )
    return name


def new_project_id() -> str:
    """`proj_<12 hex>`, the id given to a project created without one."""
    return f"proj_{secrets.token_hex(6)}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created_at": _iso(self.created_at)}


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An API key's public metadata. The secret and its hash are never part of it."""

    id: str
    project_id: str
    name: str
    created_at: datetime
    last_used: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "name": self.name,
            "created_at": _iso(self.created_at),
            "last_used": _iso(self.last_used),
            "revoked_at": _iso(self.revoked_at),
            "revoked": self.revoked,
        }


AuthMethod = Literal["api_key", "jwt", "off"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request, reduced to what scoping needs: exactly one project."""

    project_id: str
    key_id: str | None
    subject: str | None = None  # the JWT `sub` (a user id) when authenticated by token
    method: AuthMethod = "api_key"

    @property
    def rate_key(self) -> str:
        """What the rate limiter counts against: the key, else the project."""
        return self.key_id or f"project:{self.project_id}"
