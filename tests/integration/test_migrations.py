"""Numbered ClickHouse migrations: a store written by the previous release (schema in
tests/fixtures/schema_v0, as that release shipped it) opens with this one, and every trace it held is
readable through every new route, the read-side tables back-filled from its spans."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from string import Template
from typing import Any

import pytest
from starlette.testclient import TestClient

from prela.auth import Principal
from prela.exporters.clickhouse import (
    ClickHouseWriter,
    _view_target,
    apply_schema,
    close_all,
    connect,
    migrations,
)
from prela.model import SpanRecord
from prela.query.app import build_query_app
from prela.query.store import TraceStore

pytestmark = pytest.mark.integration

V0 = Path(__file__).parent.parent / "fixtures" / "schema_v0"
START_NS = 1_764_000_000_000_000_000


def _v0_store(data_dir: Path) -> Any:
    client = connect(f"chdb://{data_dir}")
    for path in sorted(V0.glob("*.sql")):
        client.command(Template(path.read_text()).substitute(database="prela", ttl_days="90"))
    # Rows as the previous release wrote them: no session/user/environment columns, Float64 cost.
    for t in range(3):
        for s in range(2):
            client.command(
                "INSERT INTO prela.spans (project_id, trace_id, span_id, parent_span_id, name, span_type, "
                "service_name, started_at, ended_at, duration_ns, status, attributes, model, input_tokens, "
                "output_tokens, total_tokens, cost_usd, input, output) VALUES "
                f"('default', '{t:032x}', '{t * 10 + s + 1:016x}', '{'' if s == 0 else f'{t * 10 + 1:016x}'}', "
                f"'{'agent' if s == 0 else 'chat'}', '{'AGENT' if s == 0 else 'LLM'}', 'old-svc', "
                f"fromUnixTimestamp64Nano({START_NS + t * 60 * 10**9 + s * 10**9}), "
                f"fromUnixTimestamp64Nano({START_NS + t * 60 * 10**9 + s * 10**9 + 5 * 10**8}), 500000000, "
                f"'SUCCESS', '{{\"session.id\": \"old\"}}', '{'gpt-4o' if s else ''}', {10 * s}, {5 * s}, "
                f"{15 * s}, {0.0000111 * s}, 'old question {t}', 'old answer {t}')"
            )
    return client


def _llm_span(project_id: str, id_char: str, session_id: str, user_id: str) -> SpanRecord:
    """One priced LLM span of `project_id`, written by this release (trace id `id_char` * 32)."""
    return SpanRecord(
        project_id, id_char * 32, "b" * 16, "", "", "new", "LLM", "CLIENT", "svc", "", "",
        START_NS + 10**12, START_NS + 10**12 + 10**9, 10**9, "SUCCESS", "", "{}", "{}", "{}", "[]", "[]",
        "openai", "gpt-4o", "gpt-4o", 1, 2, 3, 0, 0, 0, 0.5, "in", "out", session_id, user_id, "prod",
    )  # fmt: skip


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[int]]]:
    client = _v0_store(tmp_path_factory.mktemp("v0") / "clickhouse")
    yield client, apply_schema(client, "prela", 90)
    close_all()  # chDB holds one data dir per process


@pytest.fixture(scope="module")
def api(migrated: tuple[Any, list[int]]) -> TestClient:
    async def default_project(headers: Any) -> Principal:
        return Principal(project_id="default", key_id=None)

    return TestClient(build_query_app(TraceStore(migrated[0], "prela"), default_project))


def test_every_migration_is_applied_once_and_recorded(migrated: tuple[Any, list[int]]) -> None:
    client, applied = migrated
    assert applied == [m.version for m in migrations()]
    recorded = client.query("SELECT version, name FROM prela.schema_migrations ORDER BY version").result_rows
    assert recorded == [(m.version, m.name) for m in migrations()]
    assert apply_schema(client, "prela", 90) == []


def test_old_traces_are_listed_with_exact_roll_ups(api: TestClient) -> None:
    traces = api.get("/api/v1/traces").json()["traces"]
    assert [t["trace_id"] for t in traces] == [f"{t:032x}" for t in (2, 1, 0)]
    assert all(t["span_count"] == 2 and t["total_tokens"] == 15 for t in traces)
    assert [t["cost_usd"] for t in traces] == [1.11e-05] * 3
    assert all(t["root_span_name"] == "agent" and t["service_name"] == "old-svc" for t in traces)


def test_old_traces_are_found_by_every_new_route(api: TestClient) -> None:
    assert api.get("/api/v1/traces", params={"q": "question"}).json()["traces"][0]["trace_id"] == f"{2:032x}"
    assert api.get("/api/v1/traces", params={"model": "gpt-4o"}).json()["traces"]
    spans = api.get("/api/v1/spans", params={"span_type": "LLM", "include": "content"}).json()["spans"]
    assert [s["output"] for s in spans] == ["old answer 2", "old answer 1", "old answer 0"]
    stats = api.get(
        "/api/v1/stats",
        params={"since": str(START_NS), "until": str(START_NS + 3600 * 10**9), "group_by": "model"},
    ).json()
    assert stats["totals"]["count"] == 6 and stats["totals"]["total_tokens"] == 45
    detail = api.get(f"/api/v1/traces/{0:032x}").json()
    assert len(detail["spans"]) == 2 and detail["spans"][1]["cost_usd"] == 1.11e-05


def test_new_spans_flow_into_the_migrated_store(migrated: tuple[Any, list[int]], api: TestClient) -> None:
    client, _ = migrated
    ClickHouseWriter(client, "prela").insert([_llm_span("default", "a", "sess-new", "user-new")])
    assert api.get("/api/v1/traces", params={"session_id": "sess-new"}).json()["traces"][0]["cost_usd"] == 0.5
    assert [u["user_id"] for u in api.get("/api/v1/users").json()["users"]] == ["user-new"]


def test_a_new_insert_writes_one_file_per_table(migrated: tuple[Any, list[int]]) -> None:
    """Migration 0010: an insert's part in `spans` and in every view's table is one `data.packed`."""
    client, _ = migrated
    ClickHouseWriter(client, "prela").insert([_llm_span("layout", "c", "sess-l", "user-l")])
    views = client.query(
        "SELECT name FROM system.tables WHERE database = 'prela' AND engine = 'MaterializedView'"
    ).result_rows
    tables = {"spans"} | {_view_target(client, "prela", view) for (view,) in views}
    assert len(tables) == 10
    packed = client.query(
        "SELECT table, path FROM system.parts WHERE database = 'prela' AND active "
        "AND part_storage_type = 'Packed' AND part_type = 'Compact'"
    ).result_rows
    assert {table for table, _ in packed} >= tables
    assert all(sorted(p.name for p in Path(path).iterdir()) == ["data.packed"] for _, path in packed)
