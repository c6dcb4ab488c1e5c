"""`@prela.trace`: one span per call of a function (sync, async, generator, async generator), also
usable as a context manager (`with prela.trace("step", span_type="TOOL") as span:`).

Spans come from the global tracer provider at call time, so functions may be decorated before
`prela.init()` runs. An exception is recorded as a span event and sets the ERROR status; it is
re-raised unchanged. A generator's span covers its whole iteration, and is current only while the
generator body runs, never in the consumer's code between two items.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from prela.provider import prela_tracer, with_span_type

P = ParamSpec("P")
R = TypeVar("R")


def _record_failure(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


class TraceDecorator:
    """What `prela.trace(...)` returns: a decorator, and a context manager yielding the span."""

    def __init__(
        self,
        name: str | None = None,
        span_type: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> None:
        self.name = name
        self.kind = kind
        # Built once per decoration, not per call.
        self.attributes: dict[str, Any] = (
            with_span_type(attributes, span_type) if span_type is not None else dict(attributes or {})
        )
        self._active: list[AbstractContextManager[Span]] = []

    # --- context manager -------------------------------------------------------------------
    def __enter__(self) -> Span:
        if self.name is None:
            raise TypeError("prela.trace(...) used as a context manager needs a name")
        manager = prela_tracer().start_as_current_span(self.name, kind=self.kind, attributes=self.attributes)
        span = manager.__enter__()
        self._active.append(manager)
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._active.pop().__exit__(exc_type, exc, tb)

    # --- decorator -------------------------------------------------------------------------
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        name = self.name or func.__qualname__
        if inspect.isasyncgenfunction(func):
            return self._wrap_async_generator(func, name)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func, name)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):
            return self._wrap_coroutine(func, name)  # type: ignore[return-value]
        return self._wrap_function(func, name)

    def _wrap_function(self, func: Callable[P, R], name: str) -> Callable[P, R]:
        kind, attributes = self.kind, self.attributes

        @functools.wraps(func)
        def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            with prela_tracer().start_as_current_span(name, kind=kind, attributes=attributes):
                return func(*args, **kwargs)

        return traced

    def _wrap_coroutine(self, func: Callable[P, Any], name: str) -> Callable[P, Any]:
        kind, attributes = self.kind, self.attributes

        @functools.wraps(func)
        async def traced(*args: P.args, **kwargs: P.kwargs) -> Any:
            with prela_tracer().start_as_current_span(name, kind=kind, attributes=attributes):
                return await func(*args, **kwargs)

        return traced

    def _wrap_generator(self, func: Callable[P, Generator[Any, Any, Any]], name: str) -> Callable[P, Any]:
        kind, attributes = self.kind, self.attributes

        @functools.wraps(func)
        def traced(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, Any]:
            span = prela_tracer().start_span(name, kind=kind, attributes=attributes)
            span_context = trace_api.set_span_in_context(span)
            generator = func(*args, **kwargs)
            to_send: Any = None
            to_throw: BaseException | None = None
            try:
                while True:
                    token = context_api.attach(span_context)
                    try:
                        if to_throw is not None:
                            error, to_throw = to_throw, None
                            item = generator.throw(error)
                        else:
                            item = generator.send(to_send)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        context_api.detach(token)
                    try:
                        to_send = yield item
                    except GeneratorExit:
                        token = context_api.attach(span_context)
                        try:
                            generator.close()  # the consumer stopped early: not an error
                        finally:
                            context_api.detach(token)
                        raise
                    except BaseException as exc:
                        to_throw = exc
            except GeneratorExit:
                raise
            except BaseException as exc:
                _record_failure(span, exc)
                raise
            finally:
                span.end()

        return traced

    def _wrap_async_generator(
        self, func: Callable[P, AsyncGenerator[Any, Any]], name: str
    ) -> Callable[P, Any]:
        kind, attributes = self.kind, self.attributes

        @functools.wraps(func)
        async def traced(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[Any, Any]:
            span = prela_tracer().start_span(name, kind=kind, attributes=attributes)
            span_context = trace_api.set_span_in_context(span)
            generator = func(*args, **kwargs)
            to_send: Any = None
            to_throw: BaseException | None = None
            try:
                while True:
                    token = context_api.attach(span_context)
                    try:
                        if to_throw is not None:
                            error, to_throw = to_throw, None
                            item = await generator.athrow(error)
                        else:
                            item = await generator.asend(to_send)
                    except StopAsyncIteration:
                        return
                    finally:
                        context_api.detach(token)
                    try:
                        to_send = yield item
                    except GeneratorExit:
                        token = context_api.attach(span_context)
                        try:
                            await generator.aclose()
                        finally:
                            context_api.detach(token)
                        raise
                    except BaseException as exc:
                        to_throw = exc
            except GeneratorExit:
                raise
            except BaseException as exc:
                _record_failure(span, exc)
                raise
            finally:
                span.end()

        return traced


@overload
def trace(name: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def trace(
    name: str | None = None,
    /,
    *,
    span_type: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> TraceDecorator: ...
def trace(
    name: str | Callable[..., Any] | None = None,
    /,
    *,
    span_type: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> TraceDecorator | Callable[..., Any]:
    """Trace a function call (or a block) as one span.

    `@prela.trace`, `@prela.trace("name")`, `@prela.trace(span_type="TOOL")`, or
    `with prela.trace("step", span_type="RETRIEVAL") as span:`. `name` defaults to the function's
    qualified name; `span_type` (LLM, TOOL, AGENT, CHAIN, RETRIEVAL, ...) becomes `prela.span_type`.
    """
    if callable(name):
        return TraceDecorator()(name)
    return TraceDecorator(name, span_type, attributes, kind)
