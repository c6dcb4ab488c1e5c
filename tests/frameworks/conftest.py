"""Fixtures of the framework tests: one fake LLM server (OpenAI, Gemini, Bedrock) for the session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.frameworks.fake_llm import FakeLLM, fake_llm_server


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    with fake_llm_server() as server:
        yield server


def only(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The one span called `name`."""
    (span,) = [s for s in spans if s["name"] == name]
    return span
