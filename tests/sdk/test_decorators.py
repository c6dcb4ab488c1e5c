"""@prela.trace on sync, async, generator and async-generator functions: names, parents, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import prela
from prela.testing import find_span


@pytest.fixture(autouse=True)
def memory_sdk(fresh_global_provider: None) -> None:
    prela.init(exporter="memory")


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def _id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def test_sync_functions_nest_and_keep_their_return_value() -> None:
    @prela.trace(span_type="TOOL")
    def lookup(city: str) -> str:
        return city.upper()

    @prela.trace("plan", span_type="agent", attributes={"agent.name": "planner"})
    def plan() -> str:
        return lookup("paris")

    assert plan() == "PARIS"
    outer, inner = find_span("plan"), find_span(lookup.__qualname__)
    assert _parent_id(inner) == _id(outer)
    assert outer.attributes == {"agent.name": "planner", "prela.span_type": "AGENT"}
    assert inner.attributes == {"prela.span_type": "TOOL"}
    assert outer.status.status_code is StatusCode.UNSET


def test_bare_decorator_names_the_span_after_the_function() -> None:
    @prela.trace
    def step() -> int:
        return 1

    assert step() == 1
    assert step.__name__ == "step"
    assert find_span(step.__qualname__).attributes == {}


def test_exception_is_recorded_with_error_status_and_reraised() -> None:
    @prela.trace("fails")
    def fails() -> None:
        raise ValueError("bad city")

    with pytest.raises(ValueError, match="bad city"):
        fails()
    span = find_span("fails")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: bad city"
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad city"


def test_async_functions_nest_across_awaits() -> None:
    @prela.trace("fetch", span_type="RETRIEVAL")
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n

    @prela.trace("gather", span_type="CHAIN")
    async def gather() -> list[int]:
        return list(await asyncio.gather(fetch(1), fetch(2)))

    assert asyncio.run(gather()) == [1, 2]
    root = find_span("gather")
    fetches = prela.testing.find_spans("fetch")
    assert len(fetches) == 2
    assert {_parent_id(span) for span in fetches} == {_id(root)}


def test_async_exception_sets_error() -> None:
    @prela.trace("async-fails")
    async def fails() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        asyncio.run(fails())
    assert find_span("async-fails").status.status_code is StatusCode.ERROR


def test_generator_span_covers_the_whole_iteration_and_parents_inner_spans() -> None:
    @prela.trace("child")
    def child(i: int) -> int:
        return i

    @prela.trace("stream", span_type="LLM")
    def stream(n: int) -> Iterator[int]:
        for i in range(n):
            yield child(i)

    tracer = trace.get_tracer("test")
    seen = []
    with tracer.start_as_current_span("consumer"):
        for item in stream(3):
            # Between items the consumer's span is current, not the generator's.
            seen.append((item, trace.get_current_span().name))  # type: ignore[attr-defined]
    assert seen == [(0, "consumer"), (1, "consumer"), (2, "consumer")]
    generator_span, consumer = find_span("stream"), find_span("consumer")
    assert _parent_id(generator_span) == _id(consumer)
    assert {_parent_id(span) for span in prela.testing.find_spans("child")} == {_id(generator_span)}
    assert generator_span.end_time is not None
    assert generator_span.end_time >= max(s.end_time or 0 for s in prela.testing.find_spans("child"))


def test_generator_return_value_and_send_pass_through() -> None:
    @prela.trace("echo")
    def echo() -> Iterator[str]:
        received = yield "ready"
        yield f"got {received}"

    generator = echo()
    assert next(generator) == "ready"
    assert generator.send("x") == "got x"
    with pytest.raises(StopIteration):
        next(generator)
    assert find_span("echo").status.status_code is StatusCode.UNSET


def test_generator_exception_mid_iteration_sets_error() -> None:
    @prela.trace("broken-stream")
    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("stream cut")

    with pytest.raises(RuntimeError, match="stream cut"):
        list(broken())
    span = find_span("broken-stream")
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]


def test_generator_closed_early_ends_its_span_without_error() -> None:
    @prela.trace("endless")
    def endless() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    for i in endless():
        if i == 2:
            break
    span = find_span("endless")
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()


def test_async_generator_span_covers_the_iteration_and_records_errors() -> None:
    @prela.trace("tokens", span_type="LLM")
    async def tokens() -> AsyncIterator[str]:
        for token in ("Par", "is"):
            await asyncio.sleep(0)
            yield token

    @prela.trace("failing-tokens")
    async def failing() -> AsyncIterator[str]:
        yield "a"
        raise ConnectionError("peer reset")

    @prela.trace("consume")
    async def consume() -> str:
        text = "".join([token async for token in tokens()])
        with pytest.raises(ConnectionError):
            async for _ in failing():
                pass
        return text

    assert asyncio.run(consume()) == "Paris"
    root = find_span("consume")
    ok, failed = find_span("tokens"), find_span("failing-tokens")
    assert _parent_id(ok) == _parent_id(failed) == _id(root)
    assert ok.attributes == {"prela.span_type": "LLM"}
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ConnectionError: peer reset"


def test_trace_is_also_a_context_manager() -> None:
    with prela.trace("block", span_type="guardrail") as span:
        span.set_attribute("checked", True)
        with prela.trace("inner"):
            pass
    block, inner = find_span("block"), find_span("inner")
    assert block.attributes == {"prela.span_type": "GUARDRAIL", "checked": True}
    assert _parent_id(inner) == _id(block)


def test_decorating_before_init_uses_the_provider_at_call_time(fresh_global_provider: None) -> None:
    prela.testing.reset()

    @prela.trace("early")
    def early() -> None:
        pass

    early()  # no provider yet: a no-op span
    prela.init(exporter="memory")
    early()
    assert len(prela.testing.find_spans("early")) == 1
