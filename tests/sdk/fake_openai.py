"""A tiny OpenAI-compatible server on 127.0.0.1: `POST /v1/chat/completions` answers a realistic
chat.completion with usage, so the official `openai` client and its instrumentations run for real."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "gpt-4o-mini-2024-07-18"
ANSWER = "Paris is the capital of France."
PROMPT_TOKENS = 21
COMPLETION_TOKENS = 8


def chat_completion(request: dict[str, Any]) -> dict[str, Any]:
    """The body OpenAI returns for a non-streaming chat completion."""
    return {
        "id": "chatcmpl-prela-test-1",
        "object": "chat.completion",
        "created": 1_737_972_000,
        "model": MODEL,
        "system_fingerprint": "fp_prela",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(
                404, {"error": {"message": f"unknown path {self.path}", "type": "invalid_request_error"}}
            )
            return
        self._send(200, chat_completion(request))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet


@contextmanager
def fake_openai_server() -> Iterator[str]:
    """Serve on a free 127.0.0.1 port; yields the base URL for `OpenAI(base_url=...)`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
