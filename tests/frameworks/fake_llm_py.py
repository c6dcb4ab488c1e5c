"""A scripted OpenAI-compatible server on 127.0.0.1 for the Python agent frameworks' tests.

It serves the two APIs the frameworks call, non-streaming: `POST /v1/chat/completions` and
`POST /v1/responses` (the OpenAI Agents SDK's default). The script is one agent turn with one tool:
while the request offers tools and carries no tool result yet, the model calls the first tool with
`{"city": "Paris"}`; otherwise it answers `ANSWER`. Usage always reports cached-input and reasoning
tokens, so the tests see which frameworks record them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "gpt-4o-mini-2024-07-18"  # the dated snapshot the server answers with
REQUEST_MODEL = "gpt-4o-mini"
ANSWER = "It is sunny in Paris."
TOOL_ARGUMENTS = {"city": "Paris"}
TOOL_RESULT = "sunny, 21 C"
CALL_ID = "call_weather_1"
PROMPT_TOKENS = 21
CACHED_TOKENS = 5
COMPLETION_TOKENS = 8
REASONING_TOKENS = 3
# gpt-4o-mini in collector/model_prices.json: 0.15 in, 0.075 cached in, 0.6 out (USD per 1M tokens).
CALL_COST_USD = round(
    ((PROMPT_TOKENS - CACHED_TOKENS) * 0.15 + CACHED_TOKENS * 0.075 + COMPLETION_TOKENS * 0.6) / 1e6, 9
)


def get_weather(city: str) -> str:
    """The one tool every framework test registers: the weather in a city."""
    return TOOL_RESULT if city == "Paris" else "unknown"


def _tool_names(request: dict[str, Any]) -> list[str]:
    names = []
    for tool in request.get("tools") or []:
        function = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        names.append(function.get("name", ""))
    return names


def _chat_has_tool_result(request: dict[str, Any]) -> bool:
    return any(m.get("role") == "tool" for m in request.get("messages") or [])


def _responses_has_tool_result(request: dict[str, Any]) -> bool:
    items = request.get("input")
    return isinstance(items, list) and any(
        isinstance(item, dict) and item.get("type") == "function_call_output" for item in items
    )


def chat_completion(request: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion: a tool call on the first turn of a tool-using agent, else the answer."""
    tools = _tool_names(request)
    if tools and not _chat_has_tool_result(request):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": CALL_ID,
                    "type": "function",
                    "function": {"name": tools[0], "arguments": json.dumps(TOOL_ARGUMENTS)},
                }
            ],
        }
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": ANSWER, "refusal": None}
        finish = "stop"
    return {
        "id": "chatcmpl-prela-frameworks",
        "object": "chat.completion",
        "created": 1_737_972_000,
        "model": MODEL,
        "system_fingerprint": "fp_prela",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS, "audio_tokens": 0},
        },
    }


def response(request: dict[str, Any]) -> dict[str, Any]:
    """A Responses API `response` object with the same script."""
    tools = _tool_names(request)
    if tools and not _responses_has_tool_result(request):
        output: list[dict[str, Any]] = [
            {
                "type": "function_call",
                "id": "fc_prela_1",
                "call_id": CALL_ID,
                "name": tools[0],
                "arguments": json.dumps(TOOL_ARGUMENTS),
                "status": "completed",
            }
        ]
    else:
        output = [
            {
                "type": "message",
                "id": "msg_prela_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
            }
        ]
    return {
        "id": "resp_prela_frameworks",
        "object": "response",
        "created_at": 1_737_972_000,
        "status": "completed",
        "model": MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": request.get("tools") or [],
        "instructions": request.get("instructions"),
        "usage": {
            "input_tokens": PROMPT_TOKENS,
            "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
            "output_tokens": COMPLETION_TOKENS,
            "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        },
    }


_ROUTES = {"/v1/chat/completions": chat_completion, "/v1/responses": response}


@dataclass
class FakeLLM:
    """The running server: its base URL (…/v1) and every request body it answered, in order."""

    base_url: str
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?", 1)[0].rstrip("/")
        route = _ROUTES.get(path)
        if route is None:
            self._send(404, {"error": {"message": f"unknown path {path}", "type": "invalid_request_error"}})
            return
        self.server.fake.requests.append((path, request))
        self._send(200, route(request))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


class _Server(ThreadingHTTPServer):
    fake: FakeLLM


@contextmanager
def fake_llm_server() -> Iterator[FakeLLM]:
    """Serve on a free 127.0.0.1 port until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeLLM(f"http://127.0.0.1:{server.server_address[1]}/v1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
