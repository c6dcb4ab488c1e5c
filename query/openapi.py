"""The query API's OpenAPI 3.1 description (`GET /api/v1/openapi.json`)."""

from __future__ import annotations

from functools import lru_cache

import orjson


@lru_cache(maxsize=1)
def openapi_document() -> bytes:
    return orjson.dumps(
        {"openapi": "3.1.0", "info": {"title": "Prela query API", "version": "1"}, "paths": {}}
    )
