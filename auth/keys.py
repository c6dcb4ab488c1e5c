"""API keys: `pk_<project_id>_<secret>`, generated with `secrets`, stored only as a SHA-256 hash.

Why a plain SHA-256 and not bcrypt/scrypt/argon2: those slow hashes protect *low-entropy*
secrets (passwords) against offline guessing. A key's secret is 40 characters drawn uniformly
from 62 symbols (~238 bits) by `secrets`, so inverting its SHA-256 is infeasible at any
speed, while a slow hash would cost milliseconds of CPU on every ingest request. The hash of
the whole key is also its lookup index (unique), so the store never needs the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

from prela.auth.errors import MalformedKey
from prela.auth.records import PROJECT_ID_PATTERN, validate_project_id

KEY_PREFIX = "pk_"
SECRET_ALPHABET = string.ascii_letters + string.digits  # base62: url-safe and never `_`
SECRET_LENGTH = 40
MIN_SECRET_LENGTH = 32
MAX_KEY_LENGTH = 256  # longer header values are refused before hashing
_KEY = re.compile(rf"pk_({PROJECT_ID_PATTERN})_([A-Za-z0-9]{{{MIN_SECRET_LENGTH},128}})")


def generate_key(project_id: str) -> str:
    """A new plaintext key for `project_id`; show it once, store `hash_key(key)`."""
    validate_project_id(project_id)
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    return f"{KEY_PREFIX}{project_id}_{secret}"


def parse_key(text: str) -> str:
    """The project id written in a well-formed key; `MalformedKey` otherwise (without the key in it).

    The secret is the last `_`-separated segment, so project ids may contain `_` (`proj_abc123`).
    """
    if not isinstance(text, str) or len(text) > MAX_KEY_LENGTH:
        raise MalformedKey(f"an API key is at most {MAX_KEY_LENGTH} characters")
    match = _KEY.fullmatch(text)
    if match is None:
        raise MalformedKey(
            f"expected {KEY_PREFIX}<project_id>_<secret of at least {MIN_SECRET_LENGTH} letters and digits>"
        )
    return match.group(1)


def hash_key(key: str) -> bytes:
    """SHA-256 of the whole key (32 bytes): what the store keeps and indexes."""
    return hashlib.sha256(key.encode()).digest()


def key_matches(key: str, stored_hash: bytes) -> bool:
    """Whether `key` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(hash_key(key), stored_hash)


def new_key_id() -> str:
    """The public id of a key: `key_<12 hex>`; safe to log, show and pass to `revoke`."""
    return f"key_{secrets.token_hex(6)}"


def looks_like_api_key(text: str) -> bool:
    """Whether a bearer credential is meant as an API key (as opposed to a JWT)."""
    return text.startswith(KEY_PREFIX)
