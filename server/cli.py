"""The `prela` command line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from prela import __version__
from prela.auth.cli import keys_cli, projects_cli
from prela.exporters.clickhouse_version import ClickHouseVersionError
from prela.server.logs import configure_logging
from prela.server.settings import ConfigurationError, Settings

logger = logging.getLogger("prela.server")

_workers_option = click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="Processes sharing the work [env PRELA_WORKERS; one per core]",
)
# A supervisor re-executes its own command with this flag for each worker (server/workers.py).
_worker_index_option = click.option("--worker-index", type=int, hidden=True)

# Admission control of the OTLP receivers (collector/admission.py), per process.
_ADMISSION_OPTIONS = (
    click.option(
        "--admission-max-requests",
        type=click.IntRange(min=1),
        help="Requests processed at once; more wait for admission [env PRELA_ADMISSION_MAX_REQUESTS; 4]",
    ),
    click.option(
        "--admission-max-bytes",
        type=click.IntRange(min=1),
        help="Request bytes in flight, and again waiting [env PRELA_ADMISSION_MAX_BYTES; 67108864]",
    ),
    click.option(
        "--admission-max-queue",
        type=click.IntRange(min=0),
        help="Requests waiting for admission; beyond, refused at once with 503 / UNAVAILABLE and a "
        "retry delay [env PRELA_ADMISSION_MAX_QUEUE; 32]",
    ),
    click.option(
        "--admission-max-wait-ms",
        type=click.FloatRange(min=0),
        help="Longest wait for admission; a request expected to wait longer is refused on arrival "
        "[env PRELA_ADMISSION_MAX_WAIT_MS; 1000]",
    ),
)


def _admission_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_ADMISSION_OPTIONS):
        command = option(command)
    return command


def _settings(**overrides: object) -> Settings:
    try:
        return Settings().with_overrides(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']} (got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise click.UsageError(f"invalid configuration: {problems}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="prela")
def cli() -> None:
    """Prela: OpenTelemetry-native observability backend for LLM and AI-agent applications."""


@cli.command()
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Data directory [env PRELA_DATA_DIR; ./.prela]"
)
@click.option("--host", help="Interface to bind [env PRELA_HOST; 127.0.0.1]")
@click.option("--otlp-grpc-port", type=int, help="OTLP/gRPC port [env PRELA_OTLP_GRPC_PORT; 4317]")
@click.option("--otlp-http-port", type=int, help="OTLP/HTTP port [env PRELA_OTLP_HTTP_PORT; 4318]")
@click.option("--query-port", type=int, help="Query API port [env PRELA_QUERY_PORT; 8000]")
@_admission_options
@_workers_option
@_worker_index_option
def serve(
    data_dir: Path | None,
    host: str | None,
    otlp_grpc_port: int | None,
    otlp_http_port: int | None,
    query_port: int | None,
    workers: int | None,
    worker_index: int | None,
    **admission: Any,
) -> None:
    """Run everything on one machine: OTLP receivers, embedded ClickHouse (chDB) and the query API.

    With --workers N, one process owns chDB, the write-ahead log and the query API; N-1 more share the
    OTLP ports and forward what they receive to it.
    """
    settings = _settings(
        data_dir=data_dir,
        host=host,
        otlp_grpc_port=otlp_grpc_port,
        otlp_http_port=otlp_http_port,
        query_port=query_port,
        workers=workers,
        **admission,
    )
    configure_logging(settings.log_level, settings.environment)
    if worker_index is None:
        _log_configuration(settings, "serve")
        _check_listeners(settings, "serve")  # a receiver worker shares ports its owner checked
    from prela.server.serve import serve as run

    try:
        sys.exit(run(settings, worker_index))
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from None
    except ClickHouseVersionError as exc:
        raise UnsupportedServer(str(exc)) from None


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Data directory: the spool of accepted requests, one collector each [env PRELA_DATA_DIR; ./.prela]",
)
@click.option("--host", help="Interface to bind [env PRELA_HOST; 127.0.0.1]")
@click.option("--otlp-grpc-port", type=int, help="OTLP/gRPC port [env PRELA_OTLP_GRPC_PORT; 4317]")
@click.option("--otlp-http-port", type=int, help="OTLP/HTTP port [env PRELA_OTLP_HTTP_PORT; 4318]")
@click.option(
    "--metrics-port",
    type=int,
    help="With --workers > 1: worker i's /health, /ready, /metrics on port+i [env PRELA_METRICS_PORT; 9464]",
)
@_admission_options
@_workers_option
@_worker_index_option
def collector(
    data_dir: Path | None,
    host: str | None,
    otlp_grpc_port: int | None,
    otlp_http_port: int | None,
    metrics_port: int | None,
    workers: int | None,
    worker_index: int | None,
    **admission: Any,
) -> None:
    """Ingest gateway: OTLP receivers spooling to disk and publishing to Kafka (needs KAFKA_BOOTSTRAP_SERVERS)."""
    settings = _settings(
        data_dir=data_dir,
        host=host,
        otlp_grpc_port=otlp_grpc_port,
        otlp_http_port=otlp_http_port,
        metrics_port=metrics_port,
        workers=workers,
        **admission,
    )
    _run_role(settings, "collector", worker_index)


@cli.command()
@click.option("--group", help="Kafka consumer group [env PRELA_WRITER_GROUP; prela-writer]")
@click.option("--host", help="Interface of the health endpoint [env PRELA_HOST; 127.0.0.1]")
@click.option(
    "--metrics-port", type=int, help="Port of /health (worker i: port+i) [env PRELA_METRICS_PORT; 9464]"
)
@click.option(
    "--otlp-topic",
    "otlp_topics",
    multiple=True,
    help="Also consume this topic of raw OTLP trace requests (an OTel Collector's or rotel's Kafka "
    "exporter, otlp_proto); repeatable [env PRELA_KAFKA_OTLP_TOPICS, comma list]",
)
@click.option(
    "--default-project",
    help="Project of OTLP messages without a prela-project header [env PRELA_KAFKA_DEFAULT_PROJECT]",
)
@_workers_option
@_worker_index_option
def writer(
    group: str | None,
    host: str | None,
    metrics_port: int | None,
    otlp_topics: tuple[str, ...],
    default_project: str | None,
    workers: int | None,
    worker_index: int | None,
) -> None:
    """Trace service: Kafka consumer group inserting into ClickHouse (KAFKA_*, CLICKHOUSE_*)."""
    settings = _settings(
        writer_group=group,
        host=host,
        metrics_port=metrics_port,
        kafka_otlp_topics=",".join(otlp_topics) if otlp_topics else None,
        kafka_default_project=default_project,
        workers=workers,
    )
    _run_role(settings, "writer", worker_index)


@cli.command()
@click.option("--host", help="Interface to bind [env PRELA_HOST; 127.0.0.1]")
@click.option("--port", type=int, help="Query API port [env PRELA_QUERY_PORT; 8000]")
def query(host: str | None, port: int | None) -> None:
    """API gateway: the query API over ClickHouse (CLICKHOUSE_*)."""
    settings = _settings(host=host, query_port=port)
    _run_role(settings, "query")


@cli.command()
def migrate() -> None:
    """Apply the ClickHouse schema and create the Kafka topics (when KAFKA_BOOTSTRAP_SERVERS is set)."""
    settings = _settings()
    configure_logging(settings.log_level, settings.environment)
    import asyncio

    from prela.server import scaleout

    try:
        asyncio.run(scaleout.migrate(settings))
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from None
    except ClickHouseVersionError as exc:
        raise UnsupportedServer(str(exc)) from None


def _log_configuration(settings: Settings, role: str) -> None:
    logger.info("starting role=%s version=%s configuration=%s", role, __version__, settings.masked())


class ListenerError(click.ClickException):
    """A port cannot be bound: one line naming the address and the flag, exit 2 (a usage error)."""

    exit_code = 2


class UnsupportedServer(click.ClickException):
    """ClickHouse is older than Prela needs: one line naming both versions, exit 2."""

    exit_code = 2


def _check_listeners(settings: Settings, role: str) -> None:
    from prela.server.runtime import ListenerUnavailable, check_listeners, role_listeners

    try:
        check_listeners(role_listeners(settings, role))
    except ListenerUnavailable as exc:
        raise ListenerError(str(exc)) from None


def _run_role(settings: Settings, role: str, worker_index: int | None = None) -> None:
    configure_logging(settings.log_level, settings.environment)
    from prela.server import scaleout
    from prela.server.runtime import run_role
    from prela.server.workers import supervise, with_parent_watch

    worker = worker_index or 0
    roles = {
        "collector": lambda stop: scaleout.run_collector(settings, stop, worker),
        "writer": lambda stop: scaleout.run_writer(settings, stop, worker),
        "query": lambda stop: scaleout.run_query(settings, settings.query_port, stop),
    }
    if worker_index is None:  # a worker's ports were checked by its supervisor (and are shared)
        _log_configuration(settings, role)
        _check_listeners(settings, role)
    main = roles[role] if worker_index is None else with_parent_watch(roles[role])
    try:
        if worker_index is None and role != "query" and settings.workers > 1:
            settings.require(role)  # one line now rather than one per worker
            sys.exit(supervise(role, settings))
        sys.exit(run_role(main))
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from None
    except ClickHouseVersionError as exc:
        raise UnsupportedServer(str(exc)) from None


cli.add_command(projects_cli)
cli.add_command(keys_cli)


def main() -> None:
    cli()
