"""Conversion between `SpanRecord` rows and the `prela.v1.SpanBatch` wire message."""

from __future__ import annotations

from collections.abc import Sequence

from prela.model import SpanRecord
from prela.proto.prela_spans_pb2 import Span, SpanBatch


def encode_batch(project_id: str, records: Sequence[SpanRecord]) -> bytes:
    """Serialize spans of one project into a `SpanBatch`."""
    batch = SpanBatch(project_id=project_id)
    add = batch.spans.add
    for r in records:
        add(
            trace_id=r.trace_id,
            span_id=r.span_id,
            parent_span_id=r.parent_span_id,
            trace_state=r.trace_state,
            name=r.name,
            span_type=r.span_type,
            kind=r.kind,
            service_name=r.service_name,
            scope_name=r.scope_name,
            scope_version=r.scope_version,
            started_at_unix_nano=r.started_at_ns,
            ended_at_unix_nano=r.ended_at_ns,
            duration_nano=r.duration_ns,
            status=r.status,
            status_message=r.status_message,
            attributes_json=r.attributes,
            resource_attributes_json=r.resource_attributes,
            scope_attributes_json=r.scope_attributes,
            events_json=r.events,
            links_json=r.links,
            provider=r.provider,
            model=r.model,
            request_model=r.request_model,
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
            total_tokens=r.total_tokens,
            cache_read_tokens=r.cache_read_tokens,
            cache_write_tokens=r.cache_write_tokens,
            reasoning_tokens=r.reasoning_tokens,
            cost_usd=r.cost_usd,
            input=r.input,
            output=r.output,
            session_id=r.session_id,
            user_id=r.user_id,
            environment=r.environment,
        )
    return batch.SerializeToString()


def decode_batch(data: bytes) -> tuple[str, list[SpanRecord]]:
    """Parse a `SpanBatch`; raises `google.protobuf.message.DecodeError` on bad bytes."""
    batch = SpanBatch.FromString(data)
    project_id = batch.project_id
    return project_id, [_record(project_id, s) for s in batch.spans]


def _record(project_id: str, s: Span) -> SpanRecord:
    return SpanRecord(
        project_id,
        s.trace_id,
        s.span_id,
        s.parent_span_id,
        s.trace_state,
        s.name,
        s.span_type,
        s.kind,
        s.service_name,
        s.scope_name,
        s.scope_version,
        s.started_at_unix_nano,
        s.ended_at_unix_nano,
        s.duration_nano,
        s.status,
        s.status_message,
        s.attributes_json,
        s.resource_attributes_json,
        s.scope_attributes_json,
        s.events_json,
        s.links_json,
        s.provider,
        s.model,
        s.request_model,
        s.input_tokens,
        s.output_tokens,
        s.total_tokens,
        s.cache_read_tokens,
        s.cache_write_tokens,
        s.reasoning_tokens,
        s.cost_usd,
        s.input,
        s.output,
        s.session_id,
        s.user_id,
        s.environment,
    )
