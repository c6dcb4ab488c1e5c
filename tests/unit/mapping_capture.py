"""pytest plugin: records what the Python mapping tests map, for the engine's differential test.

Loaded with `-p tests.unit.mapping_capture` by tests/unit/test_engine_mapping.py, which runs the
mapping test modules in a subprocess: every `map_export_request` request and every direct
`lift_llm_fields` attribute dict (with its events and scope name) is written (pickled) to $PRELA_MAPPING_CAPTURE at the end.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import pytest

from prela.collector import mapping

CAPTURED: list[tuple[Any, ...]] = []


def pytest_configure(config: pytest.Config) -> None:
    original_map = mapping.map_export_request
    original_lift = mapping.lift_llm_fields
    inside = [False]

    def recording_map(request: Any, project_id: str) -> mapping.MappedSpans:
        CAPTURED.append(("request", request.SerializeToString()))
        inside[0] = True
        try:
            return original_map(request, project_id)
        finally:
            inside[0] = False

    def recording_lift(
        attrs: dict[str, Any],
        events: list[dict[str, Any]] | None = None,
        plain_keys: bool = False,
        scope_name: str = "",
    ) -> mapping.LiftedFields:
        if not inside[0] and not plain_keys:
            CAPTURED.append(("attributes", dict(attrs), events, scope_name))
        return original_lift(attrs, events, plain_keys, scope_name)

    mapping.map_export_request = recording_map  # type: ignore[assignment]
    mapping.lift_llm_fields = recording_lift  # type: ignore[assignment]


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("PRELA_MAPPING_CAPTURE")
    if path:
        with open(path, "wb") as out:
            pickle.dump(CAPTURED, out)
