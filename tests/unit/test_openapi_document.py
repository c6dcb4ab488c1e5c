"""The query API's OpenAPI document: valid OpenAPI 3.1, one operation per route, enums from the code."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any
from unittest.mock import Mock

import orjson
import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route
from starlette.testclient import TestClient

from prela.auth import Unauthenticated
from prela.auth.api import key_management_routes, request_principal
from prela.collector.mapping import SPAN_KINDS
from prela.model import SPAN_TYPES
from prela.query import app as query_app
from prela.query.openapi import load_document, openapi_document
from prela.query.store import SPAN_SORTS, TRACE_FILTER_FIELDS, TRACE_SORTS

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


async def refuse(headers: Any) -> Any:
    raise Unauthenticated("missing credentials")


def build_app() -> Any:
    """The query app as `prela serve` mounts it: the query routes plus key management."""
    return query_app.build_query_app(
        Mock(), refuse, extra_routes=key_management_routes(Mock(), request_principal)
    )


def route_operations() -> set[tuple[str, str]]:
    """(path template, method) of every Starlette route; `{name:path}` written as `{name}`."""
    operations = set()
    for route in build_app().routes:
        assert isinstance(route, Route)
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        operations |= {(path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return operations


def document_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def query_parameters(document: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    found = {}
    for parameter in document["paths"][path]["get"]["parameters"]:
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        found[parameter["name"]] = parameter
    return found


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_document()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any violation of the OpenAPI 3.1 meta-schema


def test_every_route_is_described_and_every_description_is_a_route(document: dict[str, Any]) -> None:
    # /metrics is described too: it is a route of the app like any other (Prometheus text).
    assert document_operations(document) == route_operations()
    assert len(route_operations()) == 15


def test_exactly_the_auth_exempt_routes_need_no_credentials(document: dict[str, Any]) -> None:
    public = {
        path
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS and op.get("security") == []
    }
    assert public == set(query_app._PUBLIC_PATHS)
    assert document["security"] == [{"ApiKey": []}, {"Bearer": []}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"] == {
        **schemes["Bearer"],
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS and path not in public:
                assert op["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}, (
                    path,
                    method,
                )


def test_enums_and_bounds_are_the_codes(document: dict[str, Any]) -> None:
    assert schema(document, "SpanType")["enum"] == sorted(SPAN_TYPES)
    assert schema(document, "SpanKind")["enum"] == list(SPAN_KINDS)
    assert schema(document, "SpanStatus")["enum"] == ["SUCCESS", "ERROR"]
    assert (
        schema(document, "TraceSort")["enum"] == list(TRACE_SORTS) == ["newest", "duration", "cost", "tokens"]
    )
    assert schema(document, "SpanSort")["enum"] == list(SPAN_SORTS) == ["newest", "duration"]
    assert schema(document, "StatsInterval")["enum"] == ["1m", "5m", "15m", "1h", "6h", "1d", "auto"]
    assert schema(document, "StatsGroupBy")["enum"] == list(query_app._GROUP_BY)
    limit = document["components"]["parameters"]["Limit"]["schema"]
    assert limit == {"type": "integer", "minimum": 1, "maximum": query_app.MAX_LIMIT, "default": 50}
    trace_id = document["paths"]["/api/v1/traces/{trace_id}"]["get"]["parameters"][0]["schema"]
    assert trace_id["maxLength"] == query_app.MAX_TRACE_ID_LENGTH == 256


def test_the_file_names_code_constants_instead_of_copying_them() -> None:
    raw = orjson.loads((resources.files("prela.query") / "openapi.json").read_bytes())["components"]
    for name in ("SpanType", "SpanStatus", "TraceSort", "SpanSort", "StatsInterval", "StatsGroupBy"):
        assert set(raw["schemas"][name]["enum"]) == {"$code"}, name
    assert raw["parameters"]["Limit"]["schema"]["maximum"] == {"$code": "MAX_LIMIT"}
    assert b"$code" not in openapi_document()


def test_list_filters_are_the_trace_filter_fields(document: dict[str, Any]) -> None:
    filters = {name.removesuffix("_ns") for name in TRACE_FILTER_FIELDS}
    deprecated = {"start_time", "end_time", "service_name"}
    assert set(query_parameters(document, "/api/v1/traces")) == filters | deprecated | {
        "sort",
        "limit",
        "cursor",
    }
    assert set(query_parameters(document, "/api/v1/spans")) == filters | deprecated | {
        "sort",
        "include",
        "limit",
        "cursor",
    }
    assert {
        n for n, p in query_parameters(document, "/api/v1/traces").items() if p.get("deprecated")
    } == deprecated
    stats_filters = {"service", "span_type", "model", "provider", "status", "environment", "user_id"}
    assert set(query_parameters(document, "/api/v1/stats")) == stats_filters | deprecated | {
        "since",
        "until",
        "interval",
        "group_by",
    }


def test_nullable_fields_are_typed_as_such(document: dict[str, Any]) -> None:
    assert schema(document, "SpanRow")["properties"]["parent_span_id"]["type"] == ["string", "null"]
    assert schema(document, "NextCursor")["type"] == ["string", "null"]
    for name in ("StatValues", "StatsBucket"):
        for field in ("p50_ms", "p90_ms", "p99_ms"):
            assert schema(document, name)["properties"][field]["type"] == ["number", "null"]
    assert schema(document, "TraceSummary")["properties"]["cost_usd"]["type"] == "number"


def test_the_document_is_served_without_credentials(document: dict[str, Any]) -> None:
    with TestClient(build_app()) as client:
        response = client.get("/api/v1/openapi.json")
        refused = client.get("/api/v1/traces")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert orjson.loads(response.content) == document
    assert refused.status_code == 401


def test_without_credentials_every_protected_operation_is_the_documented_401(
    document: dict[str, Any],
) -> None:
    api = schemathesis.openapi.from_asgi("/api/v1/openapi.json", build_app())
    public = set(query_app._PUBLIC_PATHS)
    called = []
    for path, method in sorted(document_operations(document)):
        if path in public:
            continue
        names = re.findall(r"\{(\w+)\}", path)
        case = api[path][method.upper()].Case(path_parameters=dict.fromkeys(names, "x"))
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code == 401, (path, method)
        assert response.json() == {"error": "missing credentials"}
        called.append(path)
    assert len(called) == 11
