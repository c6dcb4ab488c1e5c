"""Structured logging: one event per line, key=value text or JSON (ENVIRONMENT=production / LOG_FORMAT=json)."""

from __future__ import annotations

import logging
import os
import sys
import time

import orjson


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        line = f"ts={ts} level={record.levelname.lower()} logger={record.name} msg={record.getMessage()!r}"
        if record.exc_info:
            line += " exc=" + repr(self.formatException(record.exc_info))
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(event).decode()


def configure_logging(level: str, environment: str) -> None:
    """Install the root handler once for the process (the CLI calls this at start)."""
    use_json = os.environ.get("LOG_FORMAT", "").lower() == "json" or environment.lower() == "production"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would print every OTLP request; keep its errors only.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Each uvicorn server logs its own "Started/Finished server process", "Shutting down": with two
    # servers in one process every such line came twice. The role logs its own start and stop lines.
    if logging.getLevelName(level) != logging.DEBUG:
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
