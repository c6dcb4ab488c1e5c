"""The query API's OpenAPI 3.1 description (`GET /api/v1/openapi.json`).

The document is data: `openapi.json` beside this module. Where a value is the code's own (an enum of
accepted values, a bound), the file holds `{"$code": "NAME"}` and the value is taken from the constant
here when the document is first served, so the description cannot drift from what the handlers accept.
(The span kinds are the collector's, which the query package does not import: a unit test compares them.)
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import orjson


def code_values() -> dict[str, Any]:
    """The constants the document refers to by name."""
    # Imported here: prela.query.app imports this module.
    from prela.auth.records import MAX_NAME_LENGTH, PROJECT_ID_PATTERN
    from prela.model import SPAN_TYPES
    from prela.model.span import SpanStatus
    from prela.query import app
    from prela.query.store import SPAN_SORTS, TRACE_SORTS

    return {
        "SPAN_TYPES": sorted(SPAN_TYPES),
        "SPAN_STATUSES": [s.value for s in SpanStatus],
        "TRACE_SORTS": list(TRACE_SORTS),
        "SPAN_SORTS": list(SPAN_SORTS),
        "STATS_INTERVALS": [*app._INTERVALS, "auto"],
        "STATS_GROUP_BY": list(app._GROUP_BY),
        "DEFAULT_LIMIT": app.DEFAULT_LIMIT,
        "MAX_LIMIT": app.MAX_LIMIT,
        "MAX_TEXT_PARAMETER": app.MAX_TEXT_PARAMETER,
        "MAX_TRACE_ID_LENGTH": app.MAX_TRACE_ID_LENGTH,
        "MAX_AMOUNT": app.MAX_AMOUNT,
        "MAX_NAME_LENGTH": MAX_NAME_LENGTH,
        "PROJECT_ID_PATTERN": f"^{PROJECT_ID_PATTERN}$",
    }


def _resolve(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"$code"}:
            return values[node["$code"]]  # a KeyError names a constant the code does not provide
        return {k: _resolve(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, values) for v in node]
    return node


def load_document() -> dict[str, Any]:
    """The document with every `{"$code": NAME}` replaced by the code's value."""
    raw = orjson.loads((resources.files("prela.query") / "openapi.json").read_bytes())
    document: dict[str, Any] = _resolve(raw, code_values())
    return document


@lru_cache(maxsize=1)
def openapi_document() -> bytes:
    return orjson.dumps(load_document())
