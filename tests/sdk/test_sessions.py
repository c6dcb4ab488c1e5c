"""prela.session / prela.user: the ids go on every span started inside, from any tracer, and follow
the OpenTelemetry context (awaits and tasks, not threads unless the context is copied)."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import prela
from prela.testing import find_span

SESSION_KEYS = ("prela.session_id", "session.id", "prela.user_id", "user.id")


@pytest.fixture(autouse=True)
def memory_sdk(fresh_global_provider: None) -> None:
    prela.init(exporter="memory")


def ids_of(name: str) -> dict[str, Any]:
    attributes = find_span(name).attributes or {}
    return {key: attributes[key] for key in SESSION_KEYS if key in attributes}


def test_a_session_puts_its_ids_on_every_span_inside_and_none_outside() -> None:
    with (
        prela.session("chat-42", user_id="alice"),
        prela.trace("turn"),
        prela.llm("gpt-4o", provider="openai"),
    ):
        pass
    with prela.trace("after"):
        pass
    expected = {
        "prela.session_id": "chat-42",
        "session.id": "chat-42",
        "prela.user_id": "alice",
        "user.id": "alice",
    }
    assert ids_of("turn") == expected
    assert ids_of("chat gpt-4o") == expected
    assert ids_of("after") == {}


def test_a_session_without_a_user_sets_only_the_session() -> None:
    with prela.session("s1"), prela.trace("step"):
        pass
    assert ids_of("step") == {"prela.session_id": "s1", "session.id": "s1"}


def test_a_nested_session_replaces_the_session_and_keeps_the_user() -> None:
    with prela.session("outer", user_id="alice"):
        with prela.session("inner"), prela.trace("in inner"):
            pass
        with prela.session("other", user_id="bob"), prela.trace("in other"):
            pass
        with prela.trace("back in outer"):
            pass
    assert ids_of("in inner") == {
        "prela.session_id": "inner", "session.id": "inner", "prela.user_id": "alice", "user.id": "alice"
    }  # fmt: skip
    assert ids_of("in other")["prela.user_id"] == "bob"
    assert ids_of("back in outer")["prela.session_id"] == "outer"


def test_user_alone_and_user_inside_a_session() -> None:
    with prela.user("carol"), prela.trace("user only"):
        pass
    with prela.session("s1", user_id="alice"), prela.user("dave"), prela.trace("user override"):
        pass
    assert ids_of("user only") == {"prela.user_id": "carol", "user.id": "carol"}
    assert ids_of("user override") == {
        "prela.session_id": "s1", "session.id": "s1", "prela.user_id": "dave", "user.id": "dave"
    }  # fmt: skip


def test_a_span_started_inside_keeps_the_ids_after_the_block_ends() -> None:
    with prela.session("s1"):
        span = prela.get_tracer("app").start_span("outlives")
    span.end()
    assert ids_of("outlives")["prela.session_id"] == "s1"


async def test_tasks_created_inside_a_session_carry_it_across_awaits() -> None:
    async def step(name: str) -> None:
        await asyncio.sleep(0)
        with prela.trace(name):
            await asyncio.sleep(0)

    async with prela.session("async-1", user_id="u1"):
        await asyncio.gather(step("task a"), step("task b"))
    task = asyncio.create_task(step("task outside"))
    await task
    assert ids_of("task a")["prela.session_id"] == ids_of("task b")["prela.session_id"] == "async-1"
    assert ids_of("task outside") == {}


async def test_concurrent_sessions_in_tasks_do_not_mix() -> None:
    async def conversation(session_id: str) -> None:
        with prela.session(session_id):
            for turn in range(3):
                await asyncio.sleep(0)  # the other conversation runs here
                with prela.trace(f"{session_id} turn {turn}"):
                    await asyncio.sleep(0)

    await asyncio.gather(conversation("left"), conversation("right"))
    for session_id in ("left", "right"):
        for turn in range(3):
            assert ids_of(f"{session_id} turn {turn}")["prela.session_id"] == session_id


def test_a_new_thread_does_not_inherit_the_session_unless_the_context_is_copied() -> None:
    def work(name: str) -> None:
        with prela.trace(name):
            pass

    with prela.session("threaded"):
        plain = threading.Thread(target=work, args=("plain thread",))
        copied = threading.Thread(target=contextvars.copy_context().run, args=(work, "copied thread"))
        for thread in (plain, copied):
            thread.start()
            thread.join()
    assert ids_of("plain thread") == {}
    assert ids_of("copied thread")["prela.session_id"] == "threaded"


def test_a_third_party_tracer_span_gets_the_ids() -> None:
    tracer = trace.get_tracer("some.instrumentation")  # not Prela's: what any instrumentation does
    with prela.session("s-3p", user_id="u-3p"), tracer.start_as_current_span("third party"):
        pass
    assert ids_of("third party") == {
        "prela.session_id": "s-3p", "session.id": "s-3p", "prela.user_id": "u-3p", "user.id": "u-3p"
    }  # fmt: skip
    assert find_span("third party").instrumentation_scope.name == "some.instrumentation"  # type: ignore[union-attr]


def test_an_http_client_instrumentation_span_gets_the_ids() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    with httpx.Client(transport=transport) as client:
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=trace.get_tracer_provider())
        with prela.session("s-http", user_id="u-http"):
            assert client.get("http://llm.example/v1/chat").status_code == 200
    [span] = [s for s in prela.testing.get_finished_spans() if s.instrumentation_scope.name.endswith("httpx")]  # type: ignore[union-attr]
    assert (span.attributes or {})["prela.session_id"] == "s-http"
    assert (span.attributes or {})["user.id"] == "u-http"


def test_an_instrumentations_own_openinference_ids_are_kept() -> None:
    tracer = trace.get_tracer("openinference.instrumentation.x")
    theirs = {"session.id": "theirs", "user.id": "their-user"}
    with prela.session("ours", user_id="our-user"), tracer.start_as_current_span("oi", attributes=theirs):
        pass
    assert ids_of("oi") == {
        "prela.session_id": "ours", "session.id": "theirs", "prela.user_id": "our-user", "user.id": "their-user"
    }  # fmt: skip


def test_an_explicit_parent_context_without_the_ids_still_gets_the_current_ones() -> None:
    tracer = prela.get_tracer("server")
    extracted = context_api.Context()  # e.g. what a propagator extracted from an incoming request
    with prela.session("s-explicit"):
        tracer.start_span("explicit parent", context=extracted).end()
    assert ids_of("explicit parent")["prela.session_id"] == "s-explicit"


def test_session_and_user_decorate_functions_and_coroutines() -> None:
    @prela.session("decorated", user_id="deco-user")
    def handle() -> str:
        with prela.trace("in function"):
            return "done"

    @prela.user("async-user")
    async def handle_async() -> str:
        with prela.trace("in coroutine"):
            return "done"

    assert handle() == "done"
    assert asyncio.run(handle_async()) == "done"
    with prela.trace("outside"):
        pass
    assert ids_of("in function")["prela.session_id"] == "decorated"
    assert ids_of("in coroutine") == {"prela.user_id": "async-user", "user.id": "async-user"}
    assert ids_of("outside") == {}


def test_generators_cannot_be_decorated() -> None:
    def gen() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match=r"is a generator: use `with prela\.session"):
        prela.session("s")(gen)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: prela.session(""), ValueError, "session_id must not be empty, got ''"),
        (lambda: prela.session(42), TypeError, "session_id must be a str, got int 42"),  # type: ignore[arg-type]
        (lambda: prela.session("s", user_id=" "), ValueError, "user_id must not be empty"),
        (lambda: prela.user(None), TypeError, "user_id must be a str, got NoneType None"),  # type: ignore[arg-type]
    ],
)
def test_bad_ids_are_refused_naming_the_argument(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()


def test_the_processor_works_on_a_provider_you_own(fresh_global_provider: None) -> None:
    prela.testing.reset()  # no Prela provider: another SDK provider, configured by the app
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(prela.SessionSpanProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with prela.session("own-provider"):
        provider.get_tracer("app").start_span("owned").end()
    [span] = exporter.get_finished_spans()
    assert (span.attributes or {})["prela.session_id"] == "own-provider"
