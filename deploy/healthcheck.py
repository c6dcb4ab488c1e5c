"""The image's HEALTHCHECK: GET the health endpoint of the role the container runs; exit 0 when it answers 200.

The role and its port flags come from PID 1's command line (`prela collector --otlp-http-port 8080`,
also behind an init such as tini), the ports otherwise from the same settings the role reads
(PRELA_OTLP_HTTP_PORT, PRELA_QUERY_PORT, PRELA_METRICS_PORT and their defaults). Arguments, when
given, replace PID 1's command line: `python healthcheck.py prela query --port 9000`.
"""

from __future__ import annotations

import shlex
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from prela.server.settings import Settings

# role → (Settings field of the port serving health, the CLI flag that overrides it, path)
HEALTH: dict[str, tuple[str, str, str]] = {
    "serve": ("otlp_http_port", "--otlp-http-port", "/health"),
    "collector": ("otlp_http_port", "--otlp-http-port", "/health"),
    "writer": ("metrics_port", "--metrics-port", "/health"),
    "query": ("query_port", "--port", "/api/v1/health"),
}
ONE_SHOT_ROLES = frozenset({"migrate", "keys", "projects"})
_LAUNCHERS = frozenset({"prela", "prela.server"})


def role_arguments(command: Sequence[str]) -> tuple[str, list[str]]:
    """(role, its arguments) from a command line such as `/opt/prela/bin/python /opt/prela/bin/prela query`,
    also inside a shell's `-c "prela query --port $PORT"` (a platform's start command)."""
    command = [part for word in command for part in (shlex.split(word) if " " in word else [word])]
    for index, word in enumerate(command[:-1]):
        if Path(word).name in _LAUNCHERS:
            return command[index + 1], list(command[index + 2 :])
    return "serve", []  # the image's CMD


def _flag(arguments: Sequence[str], flag: str) -> str | None:
    for index, word in enumerate(arguments):
        if word == flag and index + 1 < len(arguments):
            return arguments[index + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def health_url(command: Sequence[str], settings: Settings) -> str | None:
    """The URL to probe for this command line; None for a role with nothing to probe (migrate)."""
    role, arguments = role_arguments(command)
    if role in ONE_SHOT_ROLES:
        return None
    if role not in HEALTH:
        raise ValueError(f"unknown prela role {role!r} (expected one of {', '.join(sorted(HEALTH))})")
    field, flag, path = HEALTH[role]
    port = int(_flag(arguments, flag) or getattr(settings, field))
    host = _flag(arguments, "--host") or settings.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a comparison) listening everywhere: ask over loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{path}"


def main(argv: Sequence[str]) -> int:
    command = list(argv) or Path("/proc/1/cmdline").read_bytes().decode().split("\0")
    url = health_url([word for word in command if word], Settings())
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 (always http://, built above)
            healthy = response.status == 200
    except OSError as exc:  # refused, timed out, or an HTTP error status (503 while unhealthy)
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
