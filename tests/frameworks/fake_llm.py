"""One local fake of three LLM APIs, so released client libraries and their instrumentations run for real.

- OpenAI (`/v1/chat/completions`, JSON or SSE stream, tool calls; `/v1/embeddings`): the Vercel AI SDK;
- Gemini (`/v1beta/models/{model}:generateContent`): google-genai;
- Bedrock runtime (`/model/{id}/converse`, `/model/{id}/invoke`): boto3's `bedrock-runtime`.

Every answer carries usage with cache-read and reasoning tokens where the API has them, so the tests
can check that those breakdowns reach the span and the price. Bound to 127.0.0.1 on a free port.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

# --- OpenAI ---------------------------------------------------------------------------------------
OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
TOOL_CALL_ID = "call_weather_1"
TOOL_ARGUMENTS = {"city": "Paris"}
OPENAI_ANSWER = "It is sunny in Paris."
STREAM_CHUNKS = ("Hel", "lo", "!")
# (prompt, completion, cached prompt, reasoning) per call kind.
OPENAI_TOOL_USAGE = (40, 12, 0, 0)
OPENAI_ANSWER_USAGE = (60, 9, 32, 4)
OPENAI_STREAM_USAGE = (10, 3, 4, 1)
# A model named `vendor/model` is an OpenRouter request: its usage carries the cost OpenRouter charged.
OPENROUTER_MODEL = "openai/gpt-4o-mini"
OPENROUTER_COST = 0.000777
EMBEDDING_MODEL = "text-embedding-3-small"
EMBEDDING_TOKENS = 5

# --- Gemini ---------------------------------------------------------------------------------------
GEMINI_MODEL_VERSION = "gemini-2.0-flash-001"
GEMINI_ANSWER = "Paris is the capital of France."
GEMINI_FUNCTION = "get_capital"
GEMINI_FUNCTION_ARGS = {"country": "France"}
# (prompt, candidates, cached, thoughts)
GEMINI_USAGE = (30, 7, 16, 3)

# --- Bedrock --------------------------------------------------------------------------------------
BEDROCK_ANSWER = "Bonjour!"
# (input, output, cache read, cache write)
BEDROCK_CONVERSE_USAGE = (25, 6, 10, 5)
BEDROCK_INVOKE_USAGE = (18, 4, 0, 0)


def _openai_usage(usage: tuple[int, int, int, int]) -> dict[str, Any]:
    prompt, completion, cached, reasoning = usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def _wants_tool_call(request: dict[str, Any]) -> bool:
    """The first turn of a request offering tools calls one; once a tool answered, the model answers."""
    messages = request.get("messages") or []
    return bool(request.get("tools")) and not any(m.get("role") == "tool" for m in messages)


def chat_completion(request: dict[str, Any]) -> dict[str, Any]:
    """A non-streaming chat.completion: a tool call on the first turn with tools, else the answer."""
    if _wants_tool_call(request):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": {"name": "weather", "arguments": json.dumps(TOOL_ARGUMENTS)},
                }
            ],
        }
        finish, usage = "tool_calls", OPENAI_TOOL_USAGE
    else:
        message = {"role": "assistant", "content": OPENAI_ANSWER, "refusal": None}
        finish, usage = "stop", OPENAI_ANSWER_USAGE
    return {
        "id": "chatcmpl-prela-fw",
        "object": "chat.completion",
        "created": 1_737_972_000,
        "model": request["model"] if "/" in str(request.get("model")) else OPENAI_MODEL,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": _openai_usage(usage)
        | ({"cost": OPENROUTER_COST} if "/" in str(request.get("model")) else {}),
    }


def chat_stream(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The chunks of a streamed answer, then the usage chunk `stream_options.include_usage` asks for."""
    base = {"id": "chatcmpl-prela-fw-s", "object": "chat.completion.chunk", "created": 1_737_972_000}
    base["model"] = OPENAI_MODEL
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    for text in STREAM_CHUNKS:
        yield {**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if (request.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _openai_usage(OPENAI_STREAM_USAGE)}


def embeddings(request: dict[str, Any]) -> dict[str, Any]:
    inputs = request.get("input")
    count = len(inputs) if isinstance(inputs, list) else 1
    return {
        "object": "list",
        "model": EMBEDDING_MODEL,
        "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(count)],
        "usage": {"prompt_tokens": EMBEDDING_TOKENS * count, "total_tokens": EMBEDDING_TOKENS * count},
    }


def gemini_generate_content(request: dict[str, Any]) -> dict[str, Any]:
    """A generateContent answer: a function call when tools are offered and none answered yet."""
    contents = request.get("contents") or []
    answered = any("functionResponse" in part for c in contents for part in c.get("parts") or [])
    if request.get("tools") and not answered:
        parts: list[dict[str, Any]] = [
            {"functionCall": {"name": GEMINI_FUNCTION, "args": GEMINI_FUNCTION_ARGS}}
        ]
    else:
        parts = [{"text": GEMINI_ANSWER}]
    prompt, candidates, cached, thoughts = GEMINI_USAGE
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": candidates,
            "cachedContentTokenCount": cached,
            "thoughtsTokenCount": thoughts,
            "totalTokenCount": prompt + candidates + thoughts,
        },
        "modelVersion": GEMINI_MODEL_VERSION,
        "responseId": "gemini-prela-fw",
    }


def bedrock_converse(request: dict[str, Any]) -> dict[str, Any]:
    inp, out, cache_read, cache_write = BEDROCK_CONVERSE_USAGE
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": BEDROCK_ANSWER}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": inp,
            "outputTokens": out,
            "totalTokens": inp + out + cache_read + cache_write,
            "cacheReadInputTokens": cache_read,
            "cacheWriteInputTokens": cache_write,
        },
        "metrics": {"latencyMs": 12},
    }


def bedrock_invoke_anthropic(model_id: str, request: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic Messages body Bedrock's InvokeModel returns for an `anthropic.*` model."""
    inp, out, _, _ = BEDROCK_INVOKE_USAGE
    return {
        "id": "msg_bdrk_prela",
        "type": "message",
        "role": "assistant",
        "model": model_id.rpartition(".")[2] if model_id.startswith("us.") else model_id,
        "content": [{"type": "text", "text": BEDROCK_ANSWER}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": inp, "output_tokens": out},
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length) if length else b""
        request = json.loads(raw or b"{}")
        path = unquote(self.path.split("?", 1)[0]).rstrip("/")
        self.server.seen.append((path, request))  # type: ignore[attr-defined]
        if path.endswith("/chat/completions"):
            if request.get("stream"):
                self._stream(chat_stream(request))
            else:
                self._send(200, chat_completion(request))
        elif path.endswith("/embeddings"):
            self._send(200, embeddings(request))
        elif path.endswith(":generateContent"):
            self._send(200, gemini_generate_content(request))
        elif path.startswith("/model/") and path.endswith("/converse"):
            self._send(200, bedrock_converse(request))
        elif path.startswith("/model/") and path.endswith("/invoke"):
            model_id = path[len("/model/") : -len("/invoke")]
            self._send(200, bedrock_invoke_anthropic(model_id, request))
        else:
            self._send(404, {"error": {"message": f"unknown path {path}", "type": "invalid_request_error"}})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, chunks: Iterator[dict[str, Any]]) -> None:
        body = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


class FakeLLM:
    """The running server: its base URL and the requests it answered."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    @property
    def seen(self) -> list[tuple[str, dict[str, Any]]]:
        """Every request answered, in order: (path, JSON body)."""
        return self._server.seen  # type: ignore[attr-defined,no-any-return]


@contextmanager
def fake_llm_server() -> Iterator[FakeLLM]:
    """Serve on a free 127.0.0.1 port until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.seen = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeLLM(server)
    finally:
        server.shutdown()
        server.server_close()
