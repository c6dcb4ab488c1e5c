"""`SpanRecord`: a Prela span as one flat row.

A NamedTuple on purpose: it is built once per span on the ingest hot path and
handed unchanged to the ClickHouse insert (a row is a sequence) or to the wire
codec, so it must be cheap to create and need no conversion.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class SpanType(StrEnum):
    LLM = "LLM"
    EMBEDDING = "EMBEDDING"
    TOOL = "TOOL"
    AGENT = "AGENT"
    CHAIN = "CHAIN"
    RETRIEVAL = "RETRIEVAL"
    RERANKER = "RERANKER"
    GUARDRAIL = "GUARDRAIL"
    EVALUATOR = "EVALUATOR"
    CUSTOM = "CUSTOM"


SPAN_TYPES: frozenset[str] = frozenset(t.value for t in SpanType)


class SpanStatus(StrEnum):
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"


class SpanRecord(NamedTuple):
    """One span of one project, with the LLM fields lifted out of its attributes.

    Timestamps are integer nanoseconds since the Unix epoch. `attributes`,
    `resource_attributes`, `scope_attributes`, `events` and `links` are JSON
    text holding everything the sender wrote, so nothing is lost.
    """

    project_id: str
    trace_id: str
    span_id: str
    parent_span_id: str
    trace_state: str
    name: str
    span_type: str
    kind: str
    service_name: str
    scope_name: str
    scope_version: str
    started_at_ns: int
    ended_at_ns: int
    duration_ns: int
    status: str
    status_message: str
    attributes: str
    resource_attributes: str
    scope_attributes: str
    events: str
    links: str
    provider: str
    model: str
    request_model: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: float
    input: str
    output: str
    # Who and where: lifted from the session/user/environment conventions ("" when absent).
    session_id: str = ""
    user_id: str = ""
    environment: str = ""


SPAN_COLUMNS: tuple[str, ...] = SpanRecord._fields

# cost_usd is stored as Decimal(18, 12): exact to a pico-dollar, below a million dollars per span.
COST_DECIMALS = 12
MAX_COST_USD = 1_000_000.0
