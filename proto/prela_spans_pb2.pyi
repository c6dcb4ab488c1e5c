from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Event(_message.Message):
    __slots__ = ("name", "time_unix_nano", "attributes_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    time_unix_nano: int
    attributes_json: str
    def __init__(self, name: _Optional[str] = ..., time_unix_nano: _Optional[int] = ..., attributes_json: _Optional[str] = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ("trace_id", "span_id", "trace_state", "attributes_json")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_STATE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_JSON_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    span_id: str
    trace_state: str
    attributes_json: str
    def __init__(self, trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., trace_state: _Optional[str] = ..., attributes_json: _Optional[str] = ...) -> None: ...

class Span(_message.Message):
    __slots__ = ("trace_id", "span_id", "parent_span_id", "trace_state", "name", "span_type", "kind", "service_name", "scope_name", "scope_version", "started_at_unix_nano", "ended_at_unix_nano", "duration_nano", "status", "status_message", "attributes_json", "resource_attributes_json", "scope_attributes_json", "events_json", "links_json", "provider", "model", "request_model", "input_tokens", "output_tokens", "total_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "input", "output", "session_id", "user_id", "environment")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_STATE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPAN_TYPE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_VERSION_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    DURATION_NANO_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_JSON_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ATTRIBUTES_JSON_FIELD_NUMBER: _ClassVar[int]
    SCOPE_ATTRIBUTES_JSON_FIELD_NUMBER: _ClassVar[int]
    EVENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    LINKS_JSON_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_MODEL_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_WRITE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REASONING_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
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
    started_at_unix_nano: int
    ended_at_unix_nano: int
    duration_nano: int
    status: str
    status_message: str
    attributes_json: str
    resource_attributes_json: str
    scope_attributes_json: str
    events_json: str
    links_json: str
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
    session_id: str
    user_id: str
    environment: str
    def __init__(self, trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., parent_span_id: _Optional[str] = ..., trace_state: _Optional[str] = ..., name: _Optional[str] = ..., span_type: _Optional[str] = ..., kind: _Optional[str] = ..., service_name: _Optional[str] = ..., scope_name: _Optional[str] = ..., scope_version: _Optional[str] = ..., started_at_unix_nano: _Optional[int] = ..., ended_at_unix_nano: _Optional[int] = ..., duration_nano: _Optional[int] = ..., status: _Optional[str] = ..., status_message: _Optional[str] = ..., attributes_json: _Optional[str] = ..., resource_attributes_json: _Optional[str] = ..., scope_attributes_json: _Optional[str] = ..., events_json: _Optional[str] = ..., links_json: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., request_model: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cache_read_tokens: _Optional[int] = ..., cache_write_tokens: _Optional[int] = ..., reasoning_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., session_id: _Optional[str] = ..., user_id: _Optional[str] = ..., environment: _Optional[str] = ...) -> None: ...

class SpanBatch(_message.Message):
    __slots__ = ("project_id", "spans")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    spans: _containers.RepeatedCompositeFieldContainer[Span]
    def __init__(self, project_id: _Optional[str] = ..., spans: _Optional[_Iterable[_Union[Span, _Mapping]]] = ...) -> None: ...
