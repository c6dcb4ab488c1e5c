"""The API key format, its hash, and the constant-time check."""

from __future__ import annotations

import inspect

import pytest

import prela.auth.keys as keys_module
from prela.auth.errors import MalformedKey
from prela.auth.keys import generate_key, hash_key, key_matches, new_key_id, parse_key


def test_generated_key_has_the_seed_format_with_a_long_base62_secret() -> None:
    key = generate_key("proj_abc123")
    prefix, _, secret = key.rpartition("_")
    assert prefix == "pk_proj_abc123"
    assert len(secret) >= 32 and secret.isalnum() and secret.isascii()


def test_project_ids_with_underscores_are_parsed_from_the_last_segment() -> None:
    assert parse_key(generate_key("proj_abc_123")) == "proj_abc_123"
    assert parse_key(generate_key("org_2NNEqL2nrIRdJ194ndJqAHwEfxC")) == "org_2NNEqL2nrIRdJ194ndJqAHwEfxC"


def test_two_generated_keys_differ() -> None:
    assert generate_key("p1") != generate_key("p1")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pk_",
        "pk_proj",
        "pk_proj_short",
        "sk_proj_" + "a" * 40,
        "pk__" + "a" * 40,
        "pk_proj_" + "a" * 31,
        "pk_proj_" + "a" * 39 + "!",
        "pk_proj_" + "a" * 300,
        "pk_pr oj_" + "a" * 40,
        "Bearer pk_proj_" + "a" * 40,
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(MalformedKey) as raised:
        parse_key(text)
    if len(text) > 10:  # the message names the format (`pk_…`), never the text given
        assert text not in str(raised.value)


def test_hash_is_sha256_of_the_whole_key() -> None:
    import hashlib

    key = generate_key("p1")
    assert hash_key(key) == hashlib.sha256(key.encode()).digest()
    assert key_matches(key, hash_key(key))
    assert not key_matches(generate_key("p1"), hash_key(key))


def test_key_matches_uses_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = keys_module.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    key = generate_key("p1")
    assert key_matches(key, hash_key(key))
    assert calls == [(hash_key(key), hash_key(key))]
    # and there is no other comparison of hashes in the module
    assert "==" not in inspect.getsource(key_matches)


def test_key_ids_are_public_looking_ids() -> None:
    key_id = new_key_id()
    assert key_id.startswith("key_") and len(key_id) == 16
