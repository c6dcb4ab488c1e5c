"""The read side on real chDB: every filter, sort and page of the query API against a brute-force
aggregation of the same spans, stats against a direct aggregation, search, sessions and users.

The data set is generated (seeded): ~400 traces over four days, traces crossing hour boundaries,
one lasting three hours, re-sent spans, sessions, users, environments and LLM content.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from prela.auth import Principal
from prela.exporters.clickhouse import ClickHouseWriter, apply_schema, close_all, connect
from prela.model import SpanRecord
from prela.model.timestamps import parse_timestamp
from prela.query.app import build_query_app
from prela.query.store import TraceStore

pytestmark = pytest.mark.integration

BASE_NS = 1_760_000_000_000_000_000  # 2025-10-09T08:53:20Z
HOUR = 3_600_000_000_000
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-pro")
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
PROJECT = "proj_read"
# Spans that start before this are inserted twice (a client's retry): lists and roll-ups fold them;
# stats rollups count what was received, so the stats tests read after it.
RESENT_BEFORE_NS = (BASE_NS + 12 * HOUR) // HOUR * HOUR  # on an hour: stats buckets start on one
OTHER = "proj_other"


def _span(rng: random.Random, trace_id: str, index: int, parent: str, start: int, end: int) -> SpanRecord:
    llm = index > 0 and rng.random() < 0.6
    model = rng.choice(MODELS) if llm else ""
    request_model = (model if rng.random() < 0.7 else rng.choice(MODELS)) if llm else ""
    input_tokens = rng.randint(1, 2000) if llm else 0
    output_tokens = rng.randint(1, 500) if llm else 0
    error = rng.random() < 0.05
    words = " ".join(rng.choice(WORDS) for _ in range(3))
    return SpanRecord(
        project_id=PROJECT, trace_id=trace_id, span_id=f"{rng.getrandbits(64) | 1:016x}",
        parent_span_id=parent, trace_state="", name="chat" if llm else rng.choice(("agent", "tool", "plan")),
        span_type="LLM" if llm else rng.choice(("AGENT", "TOOL", "CHAIN")), kind="INTERNAL",
        service_name=rng.choice(("api", "worker", "agent")), scope_name="", scope_version="",
        started_at_ns=start, ended_at_ns=end, duration_ns=end - start,
        status="ERROR" if error else "SUCCESS", status_message="boom zulu" if error else "",
        attributes="{}", resource_attributes="{}", scope_attributes="{}", events="[]", links="[]",
        provider=("openai" if model.startswith("gpt") else "anthropic") if llm else "",
        model=model, request_model=request_model, input_tokens=input_tokens, output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens, cache_read_tokens=0, cache_write_tokens=0,
        reasoning_tokens=0, cost_usd=round(rng.random() / 100, 12) if llm else 0.0,
        input=f"Question about {words}" if llm else "", output=f"Answer {rng.choice(WORDS)}" if llm else "",
        session_id=f"s{rng.randint(0, 30)}" if rng.random() < 0.8 else "",
        user_id=f"u{rng.randint(0, 12)}" if rng.random() < 0.8 else "",
        environment=rng.choice(("prod", "staging")),
    )  # fmt: skip


def generate(seed: int = 7) -> list[SpanRecord]:
    rng = random.Random(seed)
    records: list[SpanRecord] = []
    for t in range(400):
        trace_id = f"{rng.getrandbits(128):032x}"
        start = BASE_NS + rng.randint(0, 96 * HOUR)
        length = 3 * HOUR if t == 0 else rng.randint(1, 40 * 60) * 1_000_000_000  # up to 40 minutes
        root = _span(rng, trace_id, 0, "", start, start + length)
        records.append(root)
        for i in range(1, rng.randint(1, 6)):
            child_start = start + rng.randint(0, length)
            records.append(
                _span(rng, trace_id, i, root.span_id, child_start, min(start + length, child_start + 10**9))
            )
    # A session/user taken from the conventions reaches every table; another project's spans never show.
    records += [r._replace(project_id=OTHER, trace_id="f" * 32) for r in records[:5]]
    return records


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceStore]:
    data_dir: Path = tmp_path_factory.mktemp("read-side")
    client = connect(f"chdb://{data_dir}")
    apply_schema(client, "prela", 90)
    records = generate()
    writer = ClickHouseWriter(client, "prela")
    # Children and roots arrive in separate batches (as exporters send them), some spans twice.
    writer.insert([r for r in records if r.parent_span_id])
    writer.insert([r for r in records if not r.parent_span_id])
    writer.insert([r for r in records if r.started_at_ns < RESENT_BEFORE_NS])
    yield TraceStore(client, "prela")
    close_all()  # chDB holds one data dir per process


@pytest.fixture(scope="module")
def api(store: TraceStore) -> TestClient:
    async def as_project(headers: Any) -> Principal:
        return Principal(project_id=PROJECT, key_id="test")

    return TestClient(build_query_app(store, as_project))


@pytest.fixture(scope="module")
def truth() -> dict[str, dict[str, Any]]:
    """Per trace, computed in Python from the generated spans (each span once)."""
    spans: dict[tuple[str, str], SpanRecord] = {}
    for r in generate():
        if r.project_id == PROJECT:
            spans[(r.trace_id, r.span_id)] = r
    by_trace: dict[str, list[SpanRecord]] = defaultdict(list)
    for r in spans.values():
        by_trace[r.trace_id].append(r)
    out = {}
    for trace_id, rows in by_trace.items():
        start = min(r.started_at_ns for r in rows)
        end = max(r.ended_at_ns for r in rows)
        out[trace_id] = {
            "start": start,
            "duration_ns": end - start,
            "span_count": len(rows),
            "error_count": sum(r.status == "ERROR" for r in rows),
            "total_tokens": sum(r.total_tokens for r in rows),
            "input_tokens": sum(r.input_tokens for r in rows),
            "cost": sum((Decimal(str(r.cost_usd)) for r in rows), Decimal(0)),
            "models": {m for r in rows for m in (r.model, r.request_model) if m},
            "services": {r.service_name for r in rows},
            "span_types": {r.span_type for r in rows},
            "providers": {r.provider for r in rows if r.provider},
            "sessions": {r.session_id for r in rows if r.session_id},
            "users": {r.user_id for r in rows if r.user_id},
            "environments": {r.environment for r in rows},
            "text": [f"{r.name} {r.status_message} {r.input} {r.output} []".lower() for r in rows],
        }
    return out


def page_through(api: TestClient, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(500):
        response = api.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


def newest(truth: dict[str, dict[str, Any]], keep: Any = lambda t: True) -> list[str]:
    chosen = [tid for tid, t in truth.items() if keep(t)]
    return sorted(chosen, key=lambda tid: (truth[tid]["start"], tid), reverse=True)


def test_paging_yields_every_trace_exactly_once_newest_first(api: TestClient, truth: dict) -> None:
    listed = page_through(api, "/api/v1/traces", "traces", limit=17)
    assert [t["trace_id"] for t in listed] == newest(truth)


def test_listed_roll_ups_are_exact_under_re_sent_spans(api: TestClient, truth: dict) -> None:
    for t in page_through(api, "/api/v1/traces", "traces", limit=200):
        expected = truth[t["trace_id"]]
        assert t["span_count"] == expected["span_count"]
        assert t["error_count"] == expected["error_count"]
        assert t["total_tokens"] == expected["total_tokens"]
        assert t["input_tokens"] == expected["input_tokens"]
        assert Decimal(str(t["cost_usd"])) == expected["cost"]
        assert t["duration_ms"] == expected["duration_ns"] / 1e6
        assert t["status"] == ("ERROR" if expected["error_count"] else "SUCCESS")


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"service": "worker"}, lambda t: "worker" in t["services"]),
        ({"span_type": "TOOL"}, lambda t: "TOOL" in t["span_types"]),
        ({"model": "gemini-2.5-pro"}, lambda t: "gemini-2.5-pro" in t["models"]),
        ({"provider": "anthropic"}, lambda t: "anthropic" in t["providers"]),
        ({"status": "ERROR"}, lambda t: t["error_count"] > 0),
        ({"status": "SUCCESS"}, lambda t: t["error_count"] == 0),
        ({"min_duration_ms": "1200000"}, lambda t: t["duration_ns"] >= 1_200_000_000_000),
        ({"max_duration_ms": "60000"}, lambda t: t["duration_ns"] <= 60_000_000_000),
        ({"min_cost_usd": "0.02"}, lambda t: t["cost"] >= Decimal("0.02")),
        ({"session_id": "s3"}, lambda t: "s3" in t["sessions"]),
        ({"user_id": "u5"}, lambda t: "u5" in t["users"]),
        ({"environment": "staging"}, lambda t: "staging" in t["environments"]),
        (
            {"since": str(BASE_NS + 10 * HOUR), "until": str(BASE_NS + 30 * HOUR)},
            lambda t: BASE_NS + 10 * HOUR <= t["start"] < BASE_NS + 30 * HOUR,
        ),
        (
            {"model": "gpt-4o", "status": "ERROR", "service": "api"},
            lambda t: "gpt-4o" in t["models"] and t["error_count"] and "api" in t["services"],
        ),
    ],
)
def test_each_filter_matches_a_brute_force_scan(
    api: TestClient, truth: dict, params: dict, keep: Any
) -> None:
    listed = [t["trace_id"] for t in page_through(api, "/api/v1/traces", "traces", limit=25, **params)]
    expected = newest(truth, keep)
    assert expected, f"the data set has no trace for {params}"
    assert listed == expected


@pytest.mark.parametrize(
    ("q", "words", "phrase"),
    [
        ("Alpha", ["alpha"], None),
        ("alpha bravo", ["alpha", "bravo"], None),
        ('"about charlie delta"', [], "about charlie delta"),
        ("ZULU", ["zulu"], None),
    ],
)
def test_search_finds_exactly_the_traces_whose_content_holds_the_words(
    api: TestClient, truth: dict, q: str, words: list[str], phrase: str | None
) -> None:
    def holds(t: dict[str, Any]) -> bool:
        return any(
            all(w in text.replace(",", " ").split() for w in words) and (phrase is None or phrase in text)
            for text in t["text"]
        )

    listed = [t["trace_id"] for t in page_through(api, "/api/v1/traces", "traces", limit=50, q=q)]
    expected = newest(truth, holds)
    assert expected
    assert listed == expected


@pytest.mark.parametrize(
    ("sort", "metric"), [("duration", "duration_ns"), ("cost", "cost"), ("tokens", "total_tokens")]
)
def test_sorts_rank_the_range_by_the_metric(api: TestClient, truth: dict, sort: str, metric: str) -> None:
    # Rankings use the index's sums as received (a re-sent span counts twice there), so this range
    # starts after the re-sent spans; the numbers shown are exact either way (the roll-ups test).
    since, until = RESENT_BEFORE_NS + HOUR, BASE_NS + 200 * HOUR
    listed = page_through(
        api, "/api/v1/traces", "traces", limit=30, sort=sort, since=str(since), until=str(until)
    )
    in_range = [tid for tid in truth if since <= truth[tid]["start"] < until]
    expected = sorted(in_range, key=lambda tid: (truth[tid][metric], tid), reverse=True)
    assert [t["trace_id"] for t in listed] == expected


def test_span_list_pages_newest_first_with_filters_and_content(api: TestClient) -> None:
    spans = {(r.trace_id, r.span_id): r for r in generate() if r.project_id == PROJECT}
    listed = page_through(api, "/api/v1/spans", "spans", limit=9, span_type="LLM", model="gpt-4o-mini")
    expected = sorted(
        (k for k, r in spans.items() if r.span_type == "LLM" and "gpt-4o-mini" in (r.model, r.request_model)),
        key=lambda k: (spans[k].started_at_ns, k[0], k[1]),
        reverse=True,
    )
    assert [_key(s) for s in listed] == expected
    with_content = api.get(
        "/api/v1/spans", params={"span_type": "LLM", "include": "content", "limit": 3}
    ).json()
    assert len(with_content["spans"]) == 3
    for s in with_content["spans"]:
        assert (s["input"], s["output"]) == (spans[_key(s)].input, spans[_key(s)].output)
    assert "input" not in api.get("/api/v1/spans", params={"limit": 1}).json()["spans"][0]


def _key(span: dict[str, Any]) -> tuple[str, str]:
    return span["trace_id"], span["span_id"]


def test_slowest_spans_first(api: TestClient) -> None:
    spans = {(r.trace_id, r.span_id): r for r in generate() if r.project_id == PROJECT}
    listed = page_through(
        api,
        "/api/v1/spans",
        "spans",
        limit=100,
        sort="duration",
        since=str(BASE_NS),
        until=str(BASE_NS + 200 * HOUR),
    )
    assert [_key(s) for s in listed] == sorted(
        spans, key=lambda k: (spans[k].duration_ns, k[0], k[1]), reverse=True
    )


def test_stats_buckets_equal_a_direct_aggregation(api: TestClient) -> None:
    spans = {(r.trace_id, r.span_id): r for r in generate() if r.project_id == PROJECT}
    since, until = RESENT_BEFORE_NS, BASE_NS + 100 * HOUR
    body = api.get(
        "/api/v1/stats",
        params={"since": str(since), "until": str(until), "interval": "1h", "group_by": "model"},
    ).json()
    expected: dict[tuple[str, int], list[Any]] = defaultdict(lambda: [0, 0, 0, Decimal(0)])
    for r in spans.values():
        if since <= r.started_at_ns < until:
            cell = expected[(r.model, r.started_at_ns // HOUR * HOUR)]
            cell[0] += 1
            cell[1] += r.status == "ERROR"
            cell[2] += r.total_tokens
            cell[3] += Decimal(str(r.cost_usd))
    got = {}
    for series in body["series"]:
        for b in series["buckets"]:
            hour_ns = _parse_ns(b["time"])
            got[(series["group"], hour_ns)] = [
                b["count"],
                b["error_count"],
                b["total_tokens"],
                Decimal(str(b["cost_usd"])),
            ]
    assert got == {k: v for k, v in expected.items()}
    assert body["totals"]["count"] == sum(v[0] for v in expected.values())
    assert body["interval"] == "1h" and body["group_by"] == "model"


def test_stats_percentiles_follow_the_durations(api: TestClient) -> None:
    spans = [r for r in generate() if r.project_id == PROJECT]
    durations = sorted(
        {
            (r.trace_id, r.span_id): r.duration_ns / 1e6
            for r in spans
            if r.span_type == "LLM" and r.started_at_ns >= RESENT_BEFORE_NS
        }.values()
    )
    body = api.get(
        "/api/v1/stats",
        params={
            "since": str(RESENT_BEFORE_NS),
            "until": str(BASE_NS + 200 * HOUR),
            "interval": "1d",
            "span_type": "LLM",
        },
    ).json()
    p50 = body["totals"]["p50_ms"]
    # t-digest is approximate: the median it reports splits the data about in half (ties included)
    assert sum(d <= p50 * 1.01 for d in durations) >= 0.45 * len(durations)
    assert sum(d < p50 * 0.99 for d in durations) <= 0.55 * len(durations)
    assert body["totals"]["count"] == len(durations)


def _parse_ns(text: str) -> int:
    return parse_timestamp(text)


def test_sessions_list_and_transcript(api: TestClient) -> None:
    spans = {(r.trace_id, r.span_id): r for r in generate() if r.project_id == PROJECT}
    sessions = page_through(api, "/api/v1/sessions", "sessions", limit=7)
    expected_ids = {r.session_id for r in spans.values() if r.session_id}
    assert {s["session_id"] for s in sessions} == expected_ids
    assert [s["last_seen"] for s in sessions] == sorted((s["last_seen"] for s in sessions), reverse=True)
    s3 = next(s for s in sessions if s["session_id"] == "s3")
    members = [r for r in spans.values() if r.session_id == "s3"]
    assert s3["trace_count"] == len({r.trace_id for r in members})
    assert s3["total_tokens"] == sum(r.total_tokens for r in members)
    assert s3["users"] == sorted({r.user_id for r in members if r.user_id})

    detail = api.get("/api/v1/sessions/s3").json()
    assert {t["trace_id"] for t in detail["traces"]} == {r.trace_id for r in members}
    started = [parse_timestamp(t["started_at"]) for t in detail["traces"]]
    assert started == sorted(started)
    first_trace = detail["traces"][0]
    llm = sorted((r for r in spans.values() if r.trace_id == first_trace["trace_id"] and r.span_type == "LLM"),
                 key=lambda r: (r.started_at_ns, r.span_id))  # fmt: skip
    assert [(m["span_id"], m["input"], m["output"]) for m in first_trace["llm_spans"]] == [
        (r.span_id, r.input, r.output) for r in llm
    ]
    assert api.get("/api/v1/sessions/nope").status_code == 404


def test_sessions_of_one_user(api: TestClient) -> None:
    spans = [r for r in generate() if r.project_id == PROJECT]
    listed = page_through(api, "/api/v1/sessions", "sessions", user_id="u5")
    assert {s["session_id"] for s in listed} == {
        r.session_id for r in spans if r.user_id == "u5" and r.session_id
    }


def test_users_list(api: TestClient) -> None:
    spans = {(r.trace_id, r.span_id): r for r in generate() if r.project_id == PROJECT}
    users = page_through(api, "/api/v1/users", "users", limit=4)
    assert {u["user_id"] for u in users} == {r.user_id for r in spans.values() if r.user_id}
    u5 = next(u for u in users if u["user_id"] == "u5")
    members = [r for r in spans.values() if r.user_id == "u5"]
    assert u5["trace_count"] == len({r.trace_id for r in members})
    assert u5["session_count"] == len({r.session_id for r in members if r.session_id})
    assert Decimal(str(u5["cost_usd"])) == sum((Decimal(str(r.cost_usd)) for r in members), Decimal(0))


def test_another_projects_spans_are_in_no_answer(api: TestClient) -> None:
    assert "f" * 32 not in {t["trace_id"] for t in page_through(api, "/api/v1/traces", "traces", limit=200)}
    assert api.get(f"/api/v1/traces/{'f' * 32}").status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "names"),
    [
        ("/api/v1/traces", {"sort": "fastest"}, "sort"),
        ("/api/v1/traces", {"min_cost_usd": "-1"}, "min_cost_usd"),
        ("/api/v1/traces", {"cursor": "garbage"}, "cursor"),
        ("/api/v1/spans", {"include": "everything"}, "include"),
        ("/api/v1/stats", {"interval": "7s"}, "interval"),
        ("/api/v1/stats", {"group_by": "color"}, "group_by"),
        ("/api/v1/stats", {"interval": "1m", "since": "2020-01-01T00:00:00Z"}, "buckets"),
        ("/api/v1/sessions", {"limit": "0"}, "limit"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    api: TestClient, path: str, params: dict, names: str
) -> None:
    response = api.get(path, params=params)
    assert response.status_code == 400
    assert names in response.json()["error"]


def test_stats_by_user_draw_the_most_active_users_and_total_them_all(api: TestClient) -> None:
    spans = {(r.trace_id, r.span_id): r for r in generate() if r.project_id == PROJECT}
    since, until = RESENT_BEFORE_NS, BASE_NS + 200 * HOUR
    body = api.get(
        "/api/v1/stats",
        params={"since": str(since), "until": str(until), "interval": "1d", "group_by": "user"},
    ).json()
    in_range = [r for r in spans.values() if since <= r.started_at_ns < until and r.user_id]
    per_user: dict[str, int] = defaultdict(int)
    for r in in_range:
        per_user[r.user_id] += 1
    assert {s["group"]: sum(b["count"] for b in s["buckets"]) for s in body["series"]} == per_user
    assert body["totals"]["count"] == len(in_range)
