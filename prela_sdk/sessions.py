"""`prela.session(...)` and `prela.user(...)`: a session id and a user id on every span started inside.

```
with prela.session("chat-42", user_id="alice"):
    agent.run(question)            # every span here, Prela's or an instrumentation's, carries both
```

The ids live in the OpenTelemetry context (contextvars), so they follow `await` and asyncio tasks
(a task copies the context it was created in) but not a new thread, unless the thread runs in a
copy of the context (`contextvars.copy_context().run`). `SessionSpanProcessor`, which `prela.init()`
installs on its provider, writes them on each span when it starts, whichever tracer started it:
`prela.session_id` / `prela.user_id` (what the Prela server reads first) and OpenInference's
`session.id` / `user.id` (what other tools read; an instrumentation's own value is kept).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar

from opentelemetry import context as context_api
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Span, SpanProcessor

P = ParamSpec("P")
R = TypeVar("R")

SESSION_ID_ATTRIBUTE: Final = "prela.session_id"
USER_ID_ATTRIBUTE: Final = "prela.user_id"
OPENINFERENCE_SESSION_ID: Final = "session.id"
OPENINFERENCE_USER_ID: Final = "user.id"

_IDS_KEY: Final = context_api.create_key("prela.session")


@dataclass(frozen=True, slots=True)
class SessionIds:
    """The session and user in effect; either may be None."""

    session_id: str | None = None
    user_id: str | None = None


def current_ids(context: Context | None = None) -> SessionIds:
    """The session and user ids in effect in `context` (default: the current context)."""
    ids = context_api.get_value(_IDS_KEY, context)
    return ids if isinstance(ids, SessionIds) else SessionIds()


def _checked(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {value!r} (pass str(...))")
    if not value.strip():
        raise ValueError(f"{name} must not be empty, got {value!r}")
    return value


class SessionScope:
    """What `prela.session(...)` / `prela.user(...)` return: a context manager (`with`, `async with`)
    and a decorator of functions and coroutine functions. Ids left None keep the enclosing ones."""

    def __init__(self, session_id: str | None, user_id: str | None) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self._tokens: list[Token[Context]] = []

    def __enter__(self) -> SessionIds:
        outer = current_ids()
        ids = SessionIds(
            self.session_id if self.session_id is not None else outer.session_id,
            self.user_id if self.user_id is not None else outer.user_id,
        )
        self._tokens.append(context_api.attach(context_api.set_value(_IDS_KEY, ids)))
        return ids

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        context_api.detach(self._tokens.pop())

    async def __aenter__(self) -> SessionIds:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"{func.__qualname__} is a generator: use `with prela.session(...)` inside it instead, "
                "so the ids do not leak into the consumer's code between items"
            )
        session_id, user_id = self.session_id, self.user_id
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def scoped_coroutine(*args: Any, **kwargs: Any) -> Any:
                with SessionScope(session_id, user_id):  # a fresh scope per call: calls may overlap
                    return await func(*args, **kwargs)

            return scoped_coroutine  # type: ignore[return-value]

        @functools.wraps(func)
        def scoped(*args: P.args, **kwargs: P.kwargs) -> R:
            with SessionScope(session_id, user_id):
                return func(*args, **kwargs)

        return scoped


def session(session_id: str, user_id: str | None = None) -> SessionScope:
    """Every span started inside belongs to this session (and to this user, when given).

    `with prela.session("chat-42", user_id="alice"):`, `async with ...`, or `@prela.session("batch")`.
    A nested session replaces the session id; the user id stays unless the nested one names another.
    """
    return SessionScope(
        _checked("session_id", session_id), None if user_id is None else _checked("user_id", user_id)
    )


def user(user_id: str) -> SessionScope:
    """Every span started inside belongs to this user; the enclosing session id, if any, stays."""
    return SessionScope(None, _checked("user_id", user_id))


class SessionSpanProcessor(SpanProcessor):
    """Writes the session and user ids in effect on every span at its start.

    `prela.init()` installs it; add it yourself to a provider you own:
    `provider.add_span_processor(prela.SessionSpanProcessor())`.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        ids = context_api.get_value(_IDS_KEY, parent_context)
        if ids is None and parent_context is not None:
            # An explicit parent context (e.g. extracted from a request) built without ours.
            ids = context_api.get_value(_IDS_KEY)
        if not isinstance(ids, SessionIds):
            return
        existing = span.attributes or {}
        attributes: dict[str, str] = {}
        if ids.session_id is not None:
            attributes[SESSION_ID_ATTRIBUTE] = ids.session_id
            if OPENINFERENCE_SESSION_ID not in existing:
                attributes[OPENINFERENCE_SESSION_ID] = ids.session_id
        if ids.user_id is not None:
            attributes[USER_ID_ATTRIBUTE] = ids.user_id
            if OPENINFERENCE_USER_ID not in existing:
                attributes[OPENINFERENCE_USER_ID] = ids.user_id
        span.set_attributes(attributes)
