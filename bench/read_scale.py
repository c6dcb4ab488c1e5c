"""Reading at scale: fill a chDB data dir with millions of realistic LLM spans, then time the query API.

    python -m bench.read_scale [--data-dir .bench-read] [--spans 10000000] [--refill] [--seed 1]
                               [--requests 50] [--runs 1] [--json out.json] [--only PREFIX ...]

1. **Fill** (skipped when `--data-dir` already holds a fill of the same size and seed; `--refill`
   forces it): in a child process, open the data dir's chDB store exactly as `prela serve` does,
   `apply_schema`, then `INSERT INTO prela.spans SELECT ... FROM numbers_mt(chunk)` in chunks of
   `--chunk` spans, every value generated in ClickHouse SQL from the span number and `--seed`
   (reproducible; timestamps relative to the fill time). The product's materialized views fill
   every read-side table from those inserts, as they would from ingest. One extra trace of 10,000
   spans is inserted too. Then background merges are left to settle and a sample of ids is kept in
   `<data-dir>/bench-fill.json`.
2. **Measure**: start `prela serve --data-dir <dir>` on free ports (pinned to CPU 1, this client to
   CPU 0 — as `bench.load`), warm up, then for each variant send `--requests` sequential GETs with
   one keep-alive client and report p50/p90/p99/max latency; each variant is capped at
   `--variant-seconds`. With `--runs N` the whole timing phase repeats on the same server and the
   medians of the per-run percentiles are reported.
3. **Size**: bytes on disk of the active parts of `spans` and of every read-side table, per span, and
   what the read side adds relative to `spans`; the server's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import datetime as dt
import math
import multiprocessing
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import httpx
import orjson

from bench.load import (
    LOADGEN_CPU,
    SERVER_CPU,
    ServerProcess,
    _git_state,
    _pin_prefix,
    _pin_self,
    _spawn,
    free_port,
    memory_kib,
    percentile,
)

DATABASE = "prela"
PROJECT = "default"
SPANS_PER_TRACE = 10
BIG_TRACE_SPANS = 10_000
WEEK_NS = 7 * 24 * 3600 * 1_000_000_000
HOUR_NS = 3600 * 1_000_000_000
META_FILE = "bench-fill.json"
FILL_FORMAT = 1  # bump when the generated data changes: an old fill is then refilled
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# --------------------------------------------------------------------------- the generated data

SERVICES = ("support-agent", "search-api", "doc-qa", "billing-bot")  # per trace, weights below
SERVICE_WEIGHTS = (40, 30, 20, 10)
RETRIEVER_SERVICE = "retriever"  # RETRIEVAL and EMBEDDING spans: a fifth service
# (model, provider, $ per 1M input tokens, $ per 1M output tokens, share of LLM spans)
MODELS = (
    ("gpt-4o", "openai", 2.5, 10.0, 25),
    ("gpt-4o-mini", "openai", 0.15, 0.6, 30),
    ("claude-sonnet-4", "anthropic", 3.0, 15.0, 20),
    ("claude-3-5-haiku", "anthropic", 0.8, 4.0, 10),
    ("gemini-2.5-pro", "google", 1.25, 10.0, 10),
    ("gemini-2.0-flash", "google", 0.1, 0.4, 5),
)
# Child roles: 1 LLM, 2 TOOL, 3 RETRIEVAL, 4 EMBEDDING. Three trace shapes (60/30/10 %).
SHAPES = (
    (1, 3, 1, 2, 1, 2, 1, 3, 1),  # agent: LLM calls, tools, retrieval
    (1, 2, 1, 2, 1, 2, 1, 2, 1),  # agent: LLM calls and tools only
    (4, 3, 1, 4, 3, 1, 3, 1, 1),  # RAG chain: embeddings, retrieval, LLM calls
)
SHAPE_WEIGHTS = (60, 30, 10)
ROLE_TYPES = ("LLM", "TOOL", "RETRIEVAL", "EMBEDDING")
# Log-normal durations per role: median ms and sigma of ln
ROLE_DURATION = ((900.0, 0.7), (40.0, 1.0), (120.0, 0.5), (60.0, 0.4))
TOOLS = ("search_orders", "lookup_customer", "get_weather", "send_email", "calculator", "create_ticket")
ERROR_MESSAGES = (
    "RateLimitError: Rate limit reached for requests per minute, retry after 20s",
    "TimeoutError: upstream request timed out after 30 seconds",
    "ToolError: order service returned 502 Bad Gateway",
    "ValidationError: model output did not match the response schema",
    "ContextLengthExceeded: maximum context length is 128000 tokens",
)
ERROR_TRACE_SHARE = 0.02  # traces with one failing child (and a failing root)
# Prompt openings: one per content field, so phrases recur as in real prompts.
TEMPLATES = (
    "You are a helpful support assistant.",
    "Summarize the following conversation for the agent.",
    "The customer reports a damaged package and asks for a refund.",
    "Find the relevant policy documents for this question.",
    "Answer using only the retrieved context below.",
    "Classify the intent of the user message.",
    "Extract the order number and the delivery address.",
    "Write a short friendly reply in the user's language.",
    "The user wants to change the billing plan of the account.",
    "Check the invoice history and explain the last charge.",
    "Translate the answer into plain English.",
    "List the steps to reset the password.",
)
COMMON_WORDS = [
    "the",
    "to",
    "and",
    "of",
    "a",
    "in",
    "is",
    "for",
    "you",
    "that",
    "it",
    "on",
    "with",
    "your",
    "this",
    "be",
    "are",
    "we",
    "can",
    "have",
    "order",
    "not",
    "will",
    "please",
    "account",
    "customer",
    "as",
    "at",
    "from",
    "or",
    "if",
    "by",
    "an",
    "my",
    "our",
    "was",
    "help",
    "has",
    "would",
    "any",
    "all",
    "more",
    "do",
    "about",
    "payment",
    "refund",
    "item",
    "thanks",
    "need",
    "time",
    "there",
    "which",
    "so",
    "when",
    "get",
    "what",
    "support",
    "new",
    "one",
    "also",
    "up",
    "information",
    "been",
    "service",
    "just",
    "delivery",
    "me",
    "know",
    "they",
    "other",
    "like",
    "out",
    "update",
    "number",
    "email",
    "product",
    "request",
    "issue",
    "shipping",
    "use",
    "check",
    "their",
    "should",
    "may",
    "only",
    "team",
    "data",
    "plan",
    "return",
    "could",
    "how",
    "some",
    "us",
    "first",
    "price",
    "process",
    "here",
    "make",
    "see",
    "model",
    "policy",
    "user",
    "access",
    "billing",
    "address",
    "contact",
    "change",
    "day",
    "invoice",
    "system",
    "message",
    "question",
    "answer",
    "report",
    "status",
    "date",
    "error",
    "document",
    "detail",
    "note",
    "review",
    "week",
    "free",
    "total",
    "value",
    "problem",
    "online",
    "package",
    "card",
    "reply",
    "search",
    "password",
    "reset",
    "subscription",
    "store",
    "store",
    "warranty",
    "receipt",
]
RARE_WORD = "quetzalcoatlus"  # planted in about one span in NEEDLE_EVERY
NEEDLE_EVERY = 200_000
COMMON_QUERY_WORD = "customer"
PHRASE_QUERY = '"damaged package"'
VOCABULARY_SIZE = 20_000


def vocabulary(seed: int) -> list[str]:
    """COMMON_WORDS first (most frequent), then made-up words; ranks follow a Zipf-like law."""
    rng = random.Random(seed)
    words = list(dict.fromkeys(COMMON_WORDS))
    seen = set(words) | {RARE_WORD}
    onsets = [
        "b",
        "c",
        "d",
        "f",
        "g",
        "h",
        "j",
        "k",
        "l",
        "m",
        "n",
        "p",
        "r",
        "s",
        "t",
        "v",
        "w",
        "z",
        "br",
        "cr",
        "dr",
        "fr",
        "gr",
        "pl",
        "pr",
        "st",
        "tr",
        "ch",
        "sh",
        "th",
    ]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
    while len(words) < VOCABULARY_SIZE:
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.3:
            word += rng.choice("nrstl")
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _literal(value: Any) -> str:
    """A ClickHouse literal: strings quoted and escaped, numbers as they are, sequences as arrays."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return _array(value)
    return repr(value)


def _array(values: Any) -> str:
    return "[" + ", ".join(_literal(v) for v in values) + "]"


def _weights_index(name: str, weights: tuple[int, ...], u: str) -> str:
    """1-based index drawn by `u` (uniform in [0, 1)) with the given weights."""
    total = sum(weights)
    bounds = [sum(weights[: i + 1]) / total for i in range(len(weights))]
    return f"(1 + arrayCount(b -> {u} >= b, {_array(bounds[:-1])})) AS {name}"


def fill_sql(
    *,
    seed: int,
    base_ns: int,
    n_traces: int,
    offset: int,
    count: int,
    vocab: list[str],
    big_trace: int | None = None,
) -> str:
    """INSERT … SELECT of spans [offset, offset + count): of the regular 10-span traces, or (with
    `big_trace`, the trace number) all spans of one trace of `count` spans."""
    s = int(seed)

    def u(*parts: str) -> str:  # uniform [0, 1) from a hash of the seed and the parts
        return f"(cityHash64({s}, {', '.join(parts)}) % 1000000007) / 1000000007.0"

    def z(*parts: str) -> str:  # standard normal (Box-Muller) from two hashes
        u1, u2 = u(*parts, "'z1'"), u(*parts, "'z2'")
        return f"(sqrt(-2 * log(1 - {u1})) * cos(2 * pi() * {u2}))"

    def h(*parts: str) -> str:
        return f"cityHash64({s}, {', '.join(parts)})"

    def words(field: str, n_words: str) -> str:
        pick = u("n", f"'{field}'", "j")
        return (
            f"arrayStringConcat(arrayMap(j -> vocab[toUInt32(floor(pow({VOCABULARY_SIZE}, {pick})))], "
            f"range(toUInt32({n_words}))), ' ')"
        )

    def content(field: str, n_words: str) -> str:
        pick_template, pick_needle = h("n", f"'{field}t'"), h("n", f"'{field}r'")
        template = f"templates[1 + {pick_template} % {len(TEMPLATES)}]"
        needle = f"if({pick_needle} % {NEEDLE_EVERY} = 0, ' {RARE_WORD}', '')"
        return f"concat({template}, ' ', {words(field, n_words)}, {needle})"

    def between(field: str, low: int, spread: int) -> str:
        pick = h("n", f"'{field}n'")
        return f"{low} + {pick} % {spread}"

    model_names = [m[0] for m in MODELS]
    providers = [m[1] for m in MODELS]
    price_in = [m[2] for m in MODELS]
    price_out = [m[3] for m in MODELS]
    model_weights = tuple(m[4] for m in MODELS)
    spacing_ns = WEEK_NS // n_traces
    mus = [math.log(m) for m, _ in ROLE_DURATION]
    sigmas = [sg for _, sg in ROLE_DURATION]
    trace_mix = s * 7919 + 17
    span_mix = s * 104729 + 3
    v = {
        "s": s,
        "P": PROJECT,
        "DB": DATABASE,
        "SPT": SPANS_PER_TRACE,
        "offset": int(offset),
        "count": int(count),
        "spacing": spacing_ns,
        "base": int(base_ns),
        "trace_mix": trace_mix,
        "span_mix": span_mix,
        "RETRIEVER": RETRIEVER_SERVICE,
        "n_tools": len(TOOLS),
        "n_err": len(ERROR_MESSAGES),
        "err_share": ERROR_TRACE_SHARE,
        "n_users": max(1, n_traces // 50),
        "vocab": _array(vocab),
        "templates": _array(TEMPLATES),
        "services": _array(SERVICES),
        "model_names": _array(model_names),
        "providers": _array(providers),
        "price_in": _array(price_in),
        "price_out": _array(price_out),
        "role_types": _array(ROLE_TYPES),
        "shapes": _array(SHAPES),
        "mus": _array(mus),
        "sigmas": _array(sigmas),
        "tools": _array(TOOLS),
        "error_messages": _array(ERROR_MESSAGES),
        "shape_i": _weights_index("shape", SHAPE_WEIGHTS, u("t", "'shape'")),
        "service_i": _weights_index("service_i", SERVICE_WEIGHTS, u("t", "'svc'")),
        "main_model": _weights_index("main_model", model_weights, u("t", "'mm'")),
        "other_model": _weights_index("other_model", model_weights, u("n", "'om'")),
        "u_mix": u("n", "'mix'"),
        "u_fail": u("t", "'fail'"),
        "z_ti": z("n", "'ti'"),
        "z_to": z("n", "'to'"),
        "u_cache": u("n", "'cache'"),
        "u_user": u("session_no", "'user'"),
        "u_env": u("t", "'env'"),
        "root_in": content("ri", between("ri", 12, 24)),
        "llm_in": content("li", between("li", 40, 50)),
        "tool_in": words("tq", between("tq", 3, 6)),
        "retr_in": content("qi", between("qi", 4, 8)),
        "root_out": content("ro", between("ro", 20, 40)),
        "llm_out": content("lo", between("lo", 20, 50)),
        "tool_out": words("to", between("to", 10, 20)),
        "retr_out": content("do", between("do", 40, 60)),
    }
    if big_trace is None:  # regular traces: children one after the other, 2 ms apart
        v["t_expr"] = f"intDiv(n, {SPANS_PER_TRACE})"
        v["k_expr"] = f"n % {SPANS_PER_TRACE}"
        v["children"] = str(SPANS_PER_TRACE - 1)
        v["timing"] = _REGULAR_TIMING % {
            "base": int(base_ns),
            "spacing": spacing_ns,
            "s": s,
            "z": z("t", "j"),
            "spt": SPANS_PER_TRACE,
        }
    else:  # one trace of `count` spans (numbered from `offset`), children 100 ms apart, overlapping
        v["t_expr"] = str(int(big_trace))
        v["k_expr"] = f"n - {int(offset)}"
        v["children"] = str(int(count) - 1)
        v["timing"] = _BIG_TIMING % {
            "start": int(base_ns) + WEEK_NS // 2,
            "s": s,
            "z": z("n", "'bd'"),
            "children": int(count) - 1,
        }
    return Template(_FILL_SQL).substitute(v)


_REGULAR_TIMING = """\
    %(base)d + t * %(spacing)d + cityHash64(%(s)d, t, 'jit') %% %(spacing)d AS trace_start,
    arrayMap(j -> toUInt64(exp(mus[shapes[shape][j]] + sigmas[shapes[shape][j]] * %(z)s) * 1e6),
             range(1, %(spt)d)) AS durs,
    if(k = 0, 0, k * 2000000 + arraySum(arraySlice(durs, 1, k - 1))) AS start_off,
    toUInt64(if(k = 0, %(spt)d * 2000000 + arraySum(durs), durs[k])) AS dur,
"""
_BIG_TIMING = """\
    %(start)d AS trace_start,
    if(k = 0, 0, k * 100000000 + cityHash64(%(s)d, n, 'bj') %% 50000000) AS start_off,
    toUInt64(if(k = 0, %(children)d * 100000000 + 5000000000, exp(mus[role] + sigmas[role] * %(z)s) * 1e6)) AS dur,
"""


_FILL_SQL = """
INSERT INTO ${DB}.spans (project_id, trace_id, span_id, parent_span_id, trace_state, name, span_type, kind,
    service_name, scope_name, scope_version, started_at, ended_at, duration_ns, status, status_message,
    attributes, resource_attributes, scope_attributes, events, links, provider, model, request_model,
    input_tokens, output_tokens, total_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost_usd, input, output, session_id, user_id, environment)
WITH
    ${vocab} AS vocab,
    ${templates} AS templates,
    ${services} AS services,
    ${model_names} AS model_names,
    ${providers} AS providers,
    ${price_in} AS price_in,
    ${price_out} AS price_out,
    ${role_types} AS role_types,
    ${shapes} AS shapes,
    ${mus} AS mus,
    ${sigmas} AS sigmas,
    ${tools} AS tools,
    ${error_messages} AS error_messages,
    number + ${offset} AS n,
    ${t_expr} AS t,
    ${k_expr} AS k,
    ${shape_i},
    if(k = 0, 0, shapes[shape][1 + (k - 1) % 9]) AS role,
    ${service_i},
    services[service_i] AS service,
    ${main_model},
    ${other_model},
    if(${u_mix} < 0.75, main_model, other_model) AS model_i,
    ${u_fail} < ${err_share} AS failed,
    1 + cityHash64(${s}, t, 'ek') % ${children} AS error_k,
    failed AND (k = 0 OR k = error_k) AS is_error,
    intDiv(t, 50) * 10 + cityHash64(${s}, t, 'sess') % 10 AS session_no,
${timing}    if(role = 1, model_names[model_i], '') AS model_name,
    if(role = 1, providers[model_i], '') AS provider_name,
    toUInt64(if(role = 1, exp(log(900) + 0.8 * ${z_ti}), 0)) AS tin,
    toUInt64(if(role = 1, exp(log(180) + 0.7 * ${z_to}), 0)) AS tout,
    concat('sess_', lower(leftPad(hex(cityHash64(${s}, session_no, 'sid')), 16, '0'))) AS sid,
    concat('user_', toString(toUInt32(floor(${n_users} * pow(${u_user}, 2))))) AS uid,
    if(${u_env} < 0.85, 'prod', 'staging') AS env,
    if(role = 3 OR role = 4, '${RETRIEVER}', service) AS svc
SELECT
    '${P}',
    lower(concat(leftPad(hex(cityHash64(${s}, t, 'trace')), 16, '0'),
                 leftPad(hex(bitXor(t * 11400714819323198485, ${trace_mix})), 16, '0'))),
    lower(leftPad(hex(bitXor(n * 15485863040485957011, ${span_mix})), 16, '0')),
    if(k = 0, '', lower(leftPad(hex(bitXor((n - k) * 15485863040485957011, ${span_mix})), 16, '0'))),
    '',
    multiIf(k = 0, concat(service, if(shape = 3, '.rag_chain', '.agent_run')),
            role = 1, concat('chat ', model_name),
            role = 2, tools[1 + cityHash64(${s}, n, 'tool') % ${n_tools}],
            role = 3, 'vector_search',
            'embed_query'),
    if(k = 0, if(shape = 3, 'CHAIN', 'AGENT'), role_types[role]),
    if(role = 1 OR role = 4, 'CLIENT', 'INTERNAL'),
    svc,
    if(role = 1, 'opentelemetry.instrumentation.openai', 'openinference.instrumentation.langchain'),
    '0.1.0',
    fromUnixTimestamp64Nano(toInt64(trace_start + start_off)),
    fromUnixTimestamp64Nano(toInt64(trace_start + start_off + dur)),
    dur,
    if(is_error, 'ERROR', 'SUCCESS'),
    if(is_error, error_messages[1 + cityHash64(${s}, t, 'em') % ${n_err}], ''),
    if(role = 1,
       concat('{"gen_ai.system":"', provider_name, '","gen_ai.request.model":"', model_name,
              '","gen_ai.usage.input_tokens":', toString(tin), ',"gen_ai.usage.output_tokens":', toString(tout),
              ',"session.id":"', sid, '","user.id":"', uid, '"}'),
       concat('{"session.id":"', sid, '","user.id":"', uid, '"}')),
    concat('{"service.name":"', svc, '","deployment.environment":"', env, '"}'),
    '{}',
    '[]',
    '[]',
    provider_name,
    model_name,
    model_name,
    tin,
    tout,
    tin + tout,
    toUInt64(if(role = 1 AND ${u_cache} < 0.3, intDiv(tin, 2), 0)),
    toUInt64(0),
    toUInt64(0),
    if(role = 1, toDecimal64(round((tin * price_in[model_i] + tout * price_out[model_i]) / 1e6, 9), 12),
       toDecimal64(0, 12)),
    multiIf(k = 0, ${root_in}, role = 1, ${llm_in}, role = 2, concat('{"query": "', ${tool_in}, '"}'), ${retr_in}),
    multiIf(k = 0, ${root_out}, role = 1, ${llm_out}, role = 2, ${tool_out}, role = 3, ${retr_out}, ''),
    sid,
    uid,
    env
FROM numbers_mt(${count})
"""


# --------------------------------------------------------------------------- fill (in a child process)

READ_SIDE_TABLES = (
    "trace_index",
    "trace_rollups",
    "span_index",
    "span_stats_1m",
    "span_stats_1h",
    "user_stats_1h",
    "sessions",
    "users",
)
LEGACY_TABLES = ("traces",)  # migration 2's trace table, still filled by traces_mv


def chdb_dsn(data_dir: Path) -> str:
    """The DSN `prela serve --data-dir` opens (server/settings.py: <data dir>/clickhouse)."""
    return f"chdb://{(data_dir / 'clickhouse').resolve()}"


def _insert_settings(chunk: int) -> dict[str, Any]:
    return {
        "max_threads": os.cpu_count() or 1,
        "max_insert_threads": 1,  # one squashing stream: blocks of `chunk` rows reach the views
        "max_block_size": 65536,
        "min_insert_block_size_rows": chunk,
        "min_insert_block_size_bytes": 0,
        "max_query_size": 4 * 1024 * 1024,
        "max_memory_usage": 0,
    }


def _wait_for_merges(client: Any, timeout_s: float) -> float:
    """Wait until no background merge has run for a few seconds (or the timeout); seconds waited."""
    started = time.monotonic()
    quiet_since = None
    while time.monotonic() - started < timeout_s:
        running = int(client.command("SELECT count() FROM system.merges"))
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 5:
            break
        time.sleep(1)
    return time.monotonic() - started


def fill_worker(data_dir: str, spans: int, seed: int, chunk: int, settle_s: float) -> dict[str, Any]:
    """Runs in a child process: schema, inserts, settle, sample. Returns the fill record."""
    from prela.exporters.clickhouse import apply_schema, close_all, connect

    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    client = connect(chdb_dsn(directory))
    started = time.perf_counter()
    apply_schema(client, DATABASE, 90)
    n_traces = spans // SPANS_PER_TRACE
    regular = n_traces * SPANS_PER_TRACE
    base_ns = (time.time_ns() - WEEK_NS) // 1_000_000_000 * 1_000_000_000 - 600 * 1_000_000_000
    vocab = vocabulary(seed)
    settings = _insert_settings(chunk)
    chunks = []
    for offset in range(0, regular, chunk):
        count = min(chunk, regular - offset)
        t0 = time.perf_counter()
        sql = fill_sql(seed=seed, base_ns=base_ns, n_traces=n_traces, offset=offset, count=count, vocab=vocab)
        client.command(sql, settings=settings)
        chunks.append(round(time.perf_counter() - t0, 2))
        print(
            f"  fill: {offset + count:,}/{regular:,} spans, chunk {chunks[-1]:.1f} s, "
            f"total {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    t0 = time.perf_counter()
    big_sql = fill_sql(
        seed=seed,
        base_ns=base_ns,
        n_traces=n_traces,
        offset=regular,
        count=BIG_TRACE_SPANS,
        vocab=vocab,
        big_trace=n_traces,
    )
    client.command(big_sql, settings=settings)
    big_s = time.perf_counter() - t0
    insert_s = time.perf_counter() - started
    print(f"  fill: inserted in {insert_s:.0f} s; waiting for merges to settle", flush=True)
    settle_waited = _wait_for_merges(client, settle_s)
    meta = {
        "format": FILL_FORMAT,
        "spans": regular + BIG_TRACE_SPANS,
        "regular_spans": regular,
        "traces": n_traces + 1,
        "seed": seed,
        "chunk": chunk,
        "base_ns": base_ns,
        "filled_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "insert_seconds": round(insert_s, 1),
        "chunk_seconds": chunks,
        "big_trace_seconds": round(big_s, 2),
        "settle_seconds": round(settle_waited, 1),
        "fill_seconds": round(time.perf_counter() - started, 1),
        **_sample(client, seed, base_ns, n_traces),
    }
    close_all()
    return meta


def _sample(client: Any, seed: int, base_ns: int, n_traces: int) -> dict[str, Any]:
    """Ids the timing phase asks for: random traces, sessions, users, a mid-week trace, the big trace."""
    db = DATABASE

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return list(client.query(sql).result_rows)

    traces = [
        r[0]
        for r in rows(
            f"SELECT trace_id FROM {db}.trace_rollups WHERE project_id = '{PROJECT}' "
            f"ORDER BY cityHash64({seed}, trace_id) LIMIT 200"
        )
    ]
    sessions = [
        r[0]
        for r in rows(
            f"SELECT session_id FROM {db}.sessions WHERE project_id = '{PROJECT}' "
            f"GROUP BY session_id ORDER BY cityHash64({seed}, session_id) LIMIT 200"
        )
    ]
    users = [
        r[0]
        for r in rows(
            f"SELECT user_id FROM {db}.users WHERE project_id = '{PROJECT}' "
            f"GROUP BY user_id ORDER BY cityHash64({seed}, user_id) LIMIT 50"
        )
    ]
    mid_ns = base_ns + WEEK_NS // 2
    mid = rows(
        f"SELECT trace_id, toUnixTimestamp64Nano(min(started_at)) AS s FROM {db}.trace_index "
        f"WHERE project_id = '{PROJECT}' AND hour = toStartOfHour(fromUnixTimestamp64Nano({mid_ns})) "
        "GROUP BY trace_id ORDER BY s DESC, trace_id DESC LIMIT 1"
    )
    big = rows(
        f"SELECT trace_id, uniqExactMerge(spans) AS n FROM {db}.trace_rollups WHERE project_id = '{PROJECT}' "
        f"GROUP BY trace_id HAVING n >= {BIG_TRACE_SPANS} LIMIT 1"
    )
    rare = rows(
        f"SELECT count() FROM {db}.spans WHERE project_id = '{PROJECT}' AND "
        f"hasToken(input, '{RARE_WORD}') OR hasToken(output, '{RARE_WORD}')"
    )
    return {
        "sample_trace_ids": traces,
        "sample_session_ids": sessions,
        "sample_user_ids": users,
        "mid_week_cursor": [int(mid[0][1]), mid[0][0]] if mid else None,
        "big_trace_id": big[0][0] if big else None,
        "big_trace_spans": int(big[0][1]) if big else 0,
        "rare_word_spans": int(rare[0][0]) if rare else 0,
    }


def sizes_worker(data_dir: str) -> dict[str, Any]:
    """Runs in a child process: bytes on disk of the active parts of every table, and row counts."""
    from prela.exporters.clickhouse import close_all, connect

    client = connect(chdb_dsn(Path(data_dir)))
    found = client.query(
        "SELECT table, sum(bytes_on_disk), sum(data_compressed_bytes), sum(data_uncompressed_bytes), "
        "sum(rows), count() FROM system.parts WHERE database = {db:String} AND active GROUP BY table",
        parameters={"db": DATABASE},
    ).result_rows
    tables = {
        r[0]: {
            "bytes_on_disk": int(r[1]),
            "compressed": int(r[2]),
            "uncompressed": int(r[3]),
            "rows": int(r[4]),
            "parts": int(r[5]),
        }
        for r in found
    }
    columns = client.query(
        "SELECT column, sum(column_data_compressed_bytes) FROM system.parts_columns "
        "WHERE database = {db:String} AND table = 'spans' AND active GROUP BY column ORDER BY 2 DESC",
        parameters={"db": DATABASE},
    ).result_rows
    indices = client.query(
        "SELECT table, name, sum(data_compressed_bytes) FROM system.data_skipping_indices "
        "WHERE database = {db:String} GROUP BY table, name ORDER BY 3 DESC",
        parameters={"db": DATABASE},
    ).result_rows
    close_all()
    return {
        "tables": tables,
        "spans_columns": {r[0]: int(r[1]) for r in columns},
        "skip_indices": {f"{r[0]}.{r[1]}": int(r[2]) for r in indices},
    }


def sql_timings_worker(data_dir: str, meta: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Runs in a child process: the query API's store (query/store.py) in-process on the data dir, every
    SQL statement it sends timed. Shows which statement of a slow request costs what, and how much of
    a request is Python (result decoding, shaping) rather than ClickHouse."""
    from prela.exporters.clickhouse import close_all, connect
    from prela.query.store import TraceFilter, TraceStore

    client = connect(chdb_dsn(Path(data_dir)))
    statements: list[tuple[float, str]] = []
    query = client.query

    def timed_query(sql: str, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        result = query(sql, *args, **kwargs)
        statements.append((time.perf_counter() - t0, sql))
        return result

    client.query = timed_query  # type: ignore[method-assign]
    store = TraceStore(client, DATABASE)
    now = time.time_ns()
    mid = int(meta["base_ns"]) + WEEK_NS // 2
    hour = mid - mid % HOUR_NS
    p = PROJECT
    cases: dict[str, Callable[[], Any]] = {
        "traces": lambda: store.list_traces(p, TraceFilter(), 50, None),
        "traces service": lambda: store.list_traces(p, TraceFilter(service="billing-bot"), 50, None),
        "traces span_type=EMBEDDING": lambda: store.list_traces(
            p, TraceFilter(span_type="EMBEDDING"), 50, None
        ),
        "traces status=ERROR": lambda: store.list_traces(p, TraceFilter(status="ERROR"), 50, None),
        "traces 1h window": lambda: store.list_traces(
            p, TraceFilter(since_ns=hour, until_ns=hour + HOUR_NS), 50, None
        ),
        "traces max_duration_ms": lambda: store.list_traces(p, TraceFilter(max_duration_ms=2500), 50, None),
        "traces session_id": lambda: store.list_traces(
            p, TraceFilter(session_id=meta["sample_session_ids"][0]), 50, None
        ),
        "traces user_id": lambda: store.list_traces(
            p, TraceFilter(user_id=meta["sample_user_ids"][0]), 50, None
        ),
        "traces q rare": lambda: store.list_traces(p, TraceFilter(q=RARE_WORD), 50, None),
        "traces q common": lambda: store.list_traces(p, TraceFilter(q=COMMON_QUERY_WORD), 50, None),
        "traces q phrase": lambda: store.list_traces(p, TraceFilter(q=PHRASE_QUERY), 50, None),
        "traces sort=duration": lambda: store.list_traces(p, TraceFilter(), 50, None, "duration"),
        "trace by id": lambda: store.get_trace(p, meta["sample_trace_ids"][1]),
        "big trace by id": lambda: store.get_trace(p, meta["big_trace_id"]),
        "spans": lambda: store.list_spans(p, TraceFilter(), 50, None),
        "spans include=content": lambda: store.list_spans(p, TraceFilter(), 50, None, include_content=True),
        "spans q common": lambda: store.list_spans(p, TraceFilter(q=COMMON_QUERY_WORD), 50, None),
        "stats 7d model": lambda: store.stats(p, TraceFilter(), now - WEEK_NS, now, 3600, "model"),
        "stats 7d user": lambda: store.stats(p, TraceFilter(), now - WEEK_NS, now, 3600, "user"),
        "sessions": lambda: store.list_sessions(p, None, None, None, 50, None),
        "session by id": lambda: store.get_session(p, meta["sample_session_ids"][1]),
        "users": lambda: store.list_users(p, 50, None),
    }
    out: dict[str, Any] = {}
    for name, call in cases.items():
        for _ in range(repeats):  # the last repetition is kept (the first warms caches)
            statements.clear()
            t0 = time.perf_counter()
            call()
            total = time.perf_counter() - t0
        out[name] = {
            "total_ms": round(total * 1000, 1),
            "sql_ms": round(sum(s for s, _ in statements) * 1000, 1),
            "statements": [
                {"ms": round(s * 1000, 1), "sql": " ".join(ln for ln in sql.split() if ln)}
                for s, sql in statements
            ],
        }
        print(
            f"  {name:<28} total {total * 1000:8.1f} ms, {len(statements):2d} statements, "
            f"SQL {out[name]['sql_ms']:8.1f} ms: "
            + ", ".join(f"{_table_of(sql)} {s * 1000:.0f}" for s, sql in statements),
            flush=True,
        )
    close_all()
    return out


def _table_of(sql: str) -> str:
    found = re.search(r"FROM\s+\w+\.(\w+)", sql)
    return found.group(1) if found else "?"


def in_child(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run a chDB job in a fresh process: chDB holds its data dir for the life of a process."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def ensure_filled(args: argparse.Namespace) -> dict[str, Any]:
    """The fill record of --data-dir: reused when it matches --spans/--seed, else (re)filled."""
    data_dir: Path = args.data_dir
    meta_path = data_dir / META_FILE
    want = (args.spans // SPANS_PER_TRACE) * SPANS_PER_TRACE + BIG_TRACE_SPANS
    if meta_path.exists() and not args.refill:
        meta = orjson.loads(meta_path.read_bytes())
        if meta.get("format") == FILL_FORMAT and meta.get("spans") == want and meta.get("seed") == args.seed:
            print(
                f"fill: reusing {data_dir} ({meta['spans']:,} spans filled {meta['filled_at']})", flush=True
            )
            meta["reused"] = True
            return meta
        print(f"fill: {data_dir} holds another fill ({meta.get('spans')} spans, seed {meta.get('seed')})")
    if data_dir.exists():
        if not args.refill and any(data_dir.iterdir()) and not meta_path.exists():
            raise SystemExit(f"{data_dir} exists and is not a bench fill: pass --refill to replace it")
        import shutil

        shutil.rmtree(data_dir)
    print(f"fill: {want:,} spans into {data_dir} (seed {args.seed}, chunks of {args.chunk:,})", flush=True)
    meta = in_child(fill_worker, str(data_dir), args.spans, args.seed, args.chunk, args.settle_seconds)
    meta_path.write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    print(
        f"fill: {meta['spans']:,} spans in {meta['fill_seconds']:.0f} s "
        f"(inserts {meta['insert_seconds']:.0f} s, merges settled {meta['settle_seconds']:.0f} s)",
        flush=True,
    )
    meta["reused"] = False
    return meta


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.read_scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path(".bench-read"), help="chDB data dir to fill/reuse"
    )
    parser.add_argument("--spans", type=int, default=10_000_000, help="regular spans (10 per trace)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chunk", type=int, default=1_000_000, help="spans per INSERT … SELECT")
    parser.add_argument("--refill", action="store_true", help="fill again even if --data-dir holds a fill")
    parser.add_argument(
        "--settle-seconds", type=float, default=900, help="max wait for merges after the fill"
    )
    parser.add_argument("--fill-only", action="store_true", help="fill (or reuse) and stop")
    parser.add_argument("--requests", type=int, default=50, help="requests per variant and run")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole timing phase")
    parser.add_argument("--variant-seconds", type=float, default=60, help="time cap per variant and run")
    parser.add_argument("--deep-pages", type=int, default=200, help="cursor pages followed before timing")
    parser.add_argument("--only", nargs="*", default=None, help="variant name prefixes to run")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server and the client")
    parser.add_argument(
        "--sql-timings", action="store_true", help="after the HTTP timing: time each SQL statement in-process"
    )
    parser.add_argument(
        "--report", type=Path, nargs="+", default=None, help="print the medians over the runs of result files"
    )
    parser.add_argument("--json", type=Path, default=None, help="result file (default bench/results/…)")
    args = parser.parse_args(argv)
    if args.spans < SPANS_PER_TRACE or args.chunk % SPANS_PER_TRACE:
        parser.error(f"--spans must be >= {SPANS_PER_TRACE} and --chunk a multiple of {SPANS_PER_TRACE}")
    return args


# --------------------------------------------------------------------------- the server


@dataclass
class QueryServer(ServerProcess):
    query_port: int = 0


def start_server(data_dir: Path, pin: bool) -> QueryServer:
    """`prela serve --data-dir <the filled dir>` on free ports; pinned to CPU 1 unless --no-pin."""
    grpc_port, http_port, query_port = free_port(), free_port(), free_port()
    prefix = _pin_prefix(SERVER_CPU) if pin else []
    command = [
        *prefix,
        sys.executable,
        "-m",
        "prela.server",
        "serve",
        "--data-dir",
        str(data_dir),
        "--otlp-grpc-port",
        str(grpc_port),
        "--otlp-http-port",
        str(http_port),
        "--query-port",
        str(query_port),
    ]
    log_path = data_dir.with_name(data_dir.name + "-serve.log")
    env = {**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO")}
    if prefix or not pin:
        process = subprocess.Popen(command, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, env=env)
    else:
        process = _spawn(command, log_path, env)
    server = QueryServer(
        target="prela",
        process=process,
        grpc_port=grpc_port,
        http_port=http_port,
        health_urls=[
            f"http://127.0.0.1:{http_port}/health",
            f"http://127.0.0.1:{query_port}/api/v1/health",
        ],
        log_path=log_path,
        data_dir=data_dir,
        pinned=bool(prefix),
        query_port=query_port,
    )
    server.wait_ready(timeout=300)
    return server


# --------------------------------------------------------------------------- variants

# Targets from issue #9 (p99 in ms) by group; groups without a target are reported only.
TARGETS_MS = {
    "traces": 200.0,
    "trace_by_id": 50.0,
    "big_trace": 1000.0,
    "spans": 200.0,
    "stats_7d_model": 500.0,
}


@dataclass
class Variant:
    name: str
    group: str
    path: str
    params: dict[str, str]
    # Per-request overrides: request i → (path, params); or follow each answer's next_cursor.
    vary: Callable[[int], tuple[str, dict[str, str]]] | None = None
    follow_cursor: bool = False
    start_cursor: str | None = None


def _cursor(*key: Any) -> str:
    """The API's cursor format (query/store.py encode_cursor): a trace-list position."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def build_variants(meta: dict[str, Any], now_ns: int) -> list[Variant]:
    base = int(meta["base_ns"])
    mid = base + WEEK_NS // 2
    hour_from = mid - mid % HOUR_NS
    week = {"since": str(now_ns - WEEK_NS), "until": str(now_ns)}
    traces, sessions = meta["sample_trace_ids"], meta["sample_session_ids"]
    user = meta["sample_user_ids"][0]
    session = sessions[0]
    t = "/api/v1/traces"
    s = "/api/v1/spans"
    out = [
        Variant("traces", "traces", t, {}),
        Variant("traces service=billing-bot", "traces", t, {"service": "billing-bot"}),
        Variant("traces span_type=EMBEDDING", "traces", t, {"span_type": "EMBEDDING"}),
        Variant("traces model=gemini-2.5-pro", "traces", t, {"model": "gemini-2.5-pro"}),
        Variant("traces provider=google", "traces", t, {"provider": "google"}),
        Variant("traces status=ERROR", "traces", t, {"status": "ERROR"}),
        Variant(
            "traces since/until 1h mid-week",
            "traces",
            t,
            {"since": str(hour_from), "until": str(hour_from + HOUR_NS)},
        ),
        Variant("traces min_duration_ms=12000", "traces", t, {"min_duration_ms": "12000"}),
        Variant("traces max_duration_ms=2500", "traces", t, {"max_duration_ms": "2500"}),
        Variant("traces min_cost_usd=0.05", "traces", t, {"min_cost_usd": "0.05"}),
        Variant("traces session_id", "traces", t, {"session_id": session}),
        Variant("traces user_id", "traces", t, {"user_id": user}),
        Variant("traces environment=staging", "traces", t, {"environment": "staging"}),
        Variant(f"traces q={RARE_WORD} (rare)", "traces", t, {"q": RARE_WORD}),
        Variant(f"traces q={COMMON_QUERY_WORD} (common)", "traces", t, {"q": COMMON_QUERY_WORD}),
        Variant(f"traces q={PHRASE_QUERY} (phrase)", "traces", t, {"q": PHRASE_QUERY}),
        Variant("traces sort=duration", "traces", t, {"sort": "duration"}),
        Variant("traces sort=cost", "traces", t, {"sort": "cost"}),
        Variant("traces sort=tokens", "traces", t, {"sort": "tokens"}),
        Variant("traces cursor after deep pages", "traces", t, {}, follow_cursor=True),
        Variant(
            "traces cursor from mid-week",
            "traces",
            t,
            {},
            follow_cursor=True,
            start_cursor=_cursor(*meta["mid_week_cursor"]) if meta.get("mid_week_cursor") else None,
        ),
        Variant(
            "trace by id (random)",
            "trace_by_id",
            t,
            {},
            vary=lambda i: (f"/api/v1/traces/{traces[i % len(traces)]}", {}),
        ),
        Variant(
            f"trace by id ({meta['big_trace_spans']:,} spans)",
            "big_trace",
            f"/api/v1/traces/{meta['big_trace_id']}",
            {},
        ),
        Variant("spans", "spans", s, {}),
        Variant("spans span_type=LLM", "spans", s, {"span_type": "LLM"}),
        Variant("spans sort=duration", "spans", s, {"sort": "duration"}),
        Variant("spans include=content", "spans", s, {"include": "content"}),
        Variant(f"spans q={RARE_WORD} (rare)", "spans", s, {"q": RARE_WORD}),
        Variant(f"spans q={COMMON_QUERY_WORD} (common)", "spans", s, {"q": COMMON_QUERY_WORD}),
        Variant(
            "stats 7d 1h group_by=model",
            "stats_7d_model",
            "/api/v1/stats",
            {**week, "interval": "1h", "group_by": "model"},
        ),
    ]
    for group_by in ("none", "provider", "service", "user"):
        out.append(
            Variant(
                f"stats 7d 1h group_by={group_by}",
                "stats",
                "/api/v1/stats",
                {**week, "interval": "1h", "group_by": group_by},
            )
        )
    out += [
        Variant("sessions", "sessions", "/api/v1/sessions", {}),
        Variant(
            "session by id",
            "sessions",
            "/api/v1/sessions",
            {},
            vary=lambda i: (f"/api/v1/sessions/{sessions[i % len(sessions)]}", {}),
        ),
        Variant("users", "users", "/api/v1/users", {}),
    ]
    return out


# --------------------------------------------------------------------------- timing


def _items(body: dict[str, Any]) -> int:
    for key in ("traces", "spans", "sessions", "users", "series"):
        if isinstance(body.get(key), list):
            return len(body[key])
    return 1


def time_variant(
    client: httpx.Client,
    server_pid: int,
    variant: Variant,
    requests: int,
    cap_s: float,
    deep_cursor: str | None,
) -> dict[str, Any]:
    from bench.load import cpu_seconds

    latencies: list[float] = []
    items: list[int] = []
    errors: list[str] = []
    cursor = deep_cursor if variant.name.startswith("traces cursor after") else variant.start_cursor
    cpu0 = cpu_seconds(server_pid)
    started = time.monotonic()
    for i in range(requests):
        if time.monotonic() - started > cap_s:
            break
        path, params = variant.vary(i) if variant.vary else (variant.path, dict(variant.params))
        if variant.follow_cursor:
            if cursor is None:
                errors.append("no cursor to follow")
                break
            params["cursor"] = cursor
        t0 = time.perf_counter()
        response = client.get(path, params=params)
        elapsed = (time.perf_counter() - t0) * 1000
        if response.status_code != 200:
            errors.append(f"{response.status_code} {response.text[:200]}")
            continue
        latencies.append(elapsed)
        body = response.json()
        items.append(_items(body))
        if variant.follow_cursor:
            cursor = body.get("next_cursor")
    cpu = cpu_seconds(server_pid) - cpu0
    return {
        "name": variant.name,
        "group": variant.group,
        "n": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:3],
        "items_median": statistics.median(items) if items else 0,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
        "server_cpu_ms_per_request": cpu * 1000 / len(latencies) if latencies else float("nan"),
    }


def follow_pages(client: httpx.Client, pages: int) -> tuple[str | None, float, list[float]]:
    """Follow next_cursor from the newest page `pages` times: the cursor reached and the time it took."""
    cursor = None
    latencies = []
    started = time.perf_counter()
    for _ in range(pages):
        t0 = time.perf_counter()
        response = client.get("/api/v1/traces", params={"cursor": cursor} if cursor else {})
        latencies.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
        cursor = response.json().get("next_cursor")
        if cursor is None:
            break
    return cursor, time.perf_counter() - started, latencies


def timing_phase(
    client: httpx.Client, server: ServerProcess, variants: list[Variant], args: argparse.Namespace
) -> list[dict[str, Any]]:
    deep_cursor, deep_s, deep_latencies = follow_pages(client, args.deep_pages)
    print(
        f"  followed {len(deep_latencies)} pages in {deep_s:.1f} s "
        f"(p50 {percentile(deep_latencies, 50):.0f} ms, max {max(deep_latencies):.0f} ms)",
        flush=True,
    )
    results = []
    for variant in variants:
        result = time_variant(client, server.pid, variant, args.requests, args.variant_seconds, deep_cursor)
        results.append(result)
        print(
            f"  {variant.name:<40} n={result['n']:>3} p50 {result['p50_ms']:8.1f}  p99 {result['p99_ms']:8.1f} "
            f"max {result['max_ms']:8.1f} ms  items {result['items_median']}"
            + (f"  ERRORS {result['errors']}: {result['error_samples'][0]}" if result["errors"] else ""),
            flush=True,
        )
    results.append(
        {
            "name": f"(untimed) follow {len(deep_latencies)} cursor pages",
            "group": "deep_walk",
            "n": len(deep_latencies),
            "errors": 0,
            "items_median": 50,
            "p50_ms": percentile(deep_latencies, 50),
            "p90_ms": percentile(deep_latencies, 90),
            "p99_ms": percentile(deep_latencies, 99),
            "max_ms": max(deep_latencies),
            "server_cpu_ms_per_request": float("nan"),
        }
    )
    return results


def median_runs(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    for rows in zip(*runs, strict=True):
        merged = dict(rows[0])
        for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "server_cpu_ms_per_request", "items_median"):
            values = [r[key] for r in rows if r[key] is not None and r[key] == r[key]]  # no NaN or null
            merged[key] = statistics.median(values) if values else float("nan")
        merged["p99_ms_runs"] = [r["p99_ms"] for r in rows]
        merged["n"] = sum(r["n"] for r in rows)
        merged["errors"] = sum(r["errors"] for r in rows)
        target = TARGETS_MS.get(merged["group"])
        merged["target_p99_ms"] = target
        merged["met"] = None if target is None else bool(merged["p99_ms"] < target)
        out.append(merged)
    return out


# --------------------------------------------------------------------------- report


def size_report(sizes: dict[str, Any], spans: int) -> dict[str, Any]:
    tables = sizes["tables"]
    spans_bytes = tables.get("spans", {}).get("bytes_on_disk", 0)
    read_side = sum(tables.get(t, {}).get("bytes_on_disk", 0) for t in READ_SIDE_TABLES)
    legacy = sum(tables.get(t, {}).get("bytes_on_disk", 0) for t in LEGACY_TABLES)
    return {
        "spans_bytes": spans_bytes,
        "bytes_per_span": spans_bytes / spans if spans else float("nan"),
        "read_side_bytes": read_side,
        "read_side_vs_spans": read_side / spans_bytes if spans_bytes else float("nan"),
        "legacy_traces_bytes": legacy,
        "read_side_and_legacy_vs_spans": (read_side + legacy) / spans_bytes if spans_bytes else float("nan"),
        "target_read_side_vs_spans": 0.25,
        "met": bool(spans_bytes and read_side / spans_bytes < 0.25),
    }


def print_latency_table(results: list[dict[str, Any]]) -> None:
    """Medians over the runs; `p99 per run` shows how much the runs differed."""
    print()
    print(
        "| variant | n | items | p50 ms | p90 ms | p99 ms | max ms | srv cpu ms/req | p99 per run | target p99 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        target = r.get("target_p99_ms")
        verdict = "" if r.get("met") is None else (": met" if r["met"] else ": **missed**")
        per_run = ", ".join(f"{v:.0f}" for v in r.get("p99_ms_runs", [r["p99_ms"]]))
        print(
            f"| {r['name']} | {r['n']} | {r['items_median']:g} | {r['p50_ms']:.0f} | {r['p90_ms']:.0f} | "
            f"{r['p99_ms']:.0f} | {r['max_ms']:.0f} | {r['server_cpu_ms_per_request']:.0f} | {per_run} | "
            f"{'' if target is None else f'< {target:g}{verdict}'} |"
        )


def report(files: list[Path]) -> int:
    """--report: the medians over every run of earlier result files (runs of several invocations)."""
    runs: list[list[dict[str, Any]]] = []
    for path in files:
        runs += orjson.loads(path.read_bytes())["runs"]
    print(f"{len(runs)} runs from {len(files)} files")
    print_latency_table(median_runs(runs))
    return 0


def print_report(
    results: list[dict[str, Any]], sizes: dict[str, Any], summary: dict[str, Any], spans: int, rss_mib: float
) -> None:
    print_latency_table(results)
    print()
    print("| table | rows | active parts | bytes on disk | bytes/span | vs spans |")
    print("|---|---|---|---|---|---|")
    spans_bytes = summary["spans_bytes"] or 1
    for name, t in sorted(sizes["tables"].items(), key=lambda kv: -kv[1]["bytes_on_disk"]):
        print(
            f"| {name} | {t['rows']:,} | {t['parts']} | {t['bytes_on_disk']:,} | "
            f"{t['bytes_on_disk'] / spans:.1f} | {t['bytes_on_disk'] / spans_bytes:.1%} |"
        )
    print()
    print(
        f"spans: {summary['bytes_per_span']:.1f} B/span on disk; read side (8 tables) "
        f"+{summary['read_side_vs_spans']:.1%} of spans (target < +25 %: "
        f"{'met' if summary['met'] else 'missed'}); with the legacy `traces` table "
        f"+{summary['read_side_and_legacy_vs_spans']:.1%}. Server peak RSS {rss_mib:.0f} MiB."
    )
    for name, size in list(sizes["skip_indices"].items())[:6]:
        print(f"  skip index {name}: {size:,} B compressed ({size / spans:.1f} B/span)")


def http_phase(
    args: argparse.Namespace, meta: dict[str, Any]
) -> tuple[list[list[dict[str, Any]]], float, bool]:
    """Start the server, warm up, run the timing phase --runs times: per-run results, peak RSS, pinned."""
    pinned = not args.no_pin and _pin_self()
    server = start_server(args.data_dir, pin=not args.no_pin)
    pinned = pinned and server.pinned
    where = f"server CPU {SERVER_CPU}, client CPU {LOADGEN_CPU}" if pinned else "UNPINNED"
    print(f"server pid {server.pid} on :{server.query_port} ({where})", flush=True)
    runs: list[list[dict[str, Any]]] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.query_port}", timeout=120) as client:
            variants = build_variants(meta, time.time_ns())
            if args.only:
                variants = [v for v in variants if any(v.name.startswith(p) for p in args.only)]
            print("warm-up", flush=True)
            for variant in variants:
                time_variant(client, server.pid, variant, 3, args.variant_seconds, None)
            for run in range(args.runs):
                print(f"run {run + 1}/{args.runs}", flush=True)
                runs.append(timing_phase(client, server, variants, args))
        rss_mib = memory_kib(server.pid).get("VmHWM", 0) / 1024
    finally:
        server.stop()
    return runs, rss_mib, pinned


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:
        return report(args.report)
    meta = ensure_filled(args)
    if args.fill_only:
        return 0
    print("sizes: reading system.parts", flush=True)
    sizes = in_child(sizes_worker, str(args.data_dir))
    summary = size_report(sizes, meta["spans"])
    runs: list[list[dict[str, Any]]] = []
    rss_mib, pinned = float("nan"), False
    if args.runs > 0:
        runs, rss_mib, pinned = http_phase(args, meta)
    results = median_runs(runs)
    sql_timings = None
    if args.sql_timings:
        print("SQL statements of the store, in-process (ms):", flush=True)
        sql_timings = in_child(sql_timings_worker, str(args.data_dir), meta, 3)
    print_report(results, sizes, summary, meta["spans"], rss_mib)
    out = args.json or RESULTS_DIR / f"read_scale-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(
        orjson.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "pinned": pinned,
                    "load_avg": os.getloadavg(),
                },
                "git": _git_state(),
                "args": {k: str(v) for k, v in vars(args).items()},
                "fill": {k: v for k, v in meta.items() if not k.startswith("sample_")},
                "sizes": sizes,
                "size_summary": summary,
                "server_peak_rss_mib": rss_mib,
                "results": results,
                "runs": runs,
                "sql_timings": sql_timings,
            },
            option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY,
        )
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
