"""The `prela` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from pydantic import ValidationError

from prela import __version__
from prela.server.logs import configure_logging
from prela.server.settings import Settings


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
def serve(
    data_dir: Path | None,
    host: str | None,
    otlp_grpc_port: int | None,
    otlp_http_port: int | None,
    query_port: int | None,
) -> None:
    """Run everything in one process: OTLP receivers, embedded ClickHouse (chDB) and the query API."""
    settings = _settings(
        data_dir=data_dir,
        host=host,
        otlp_grpc_port=otlp_grpc_port,
        otlp_http_port=otlp_http_port,
        query_port=query_port,
    )
    configure_logging(settings.log_level, settings.environment)
    from prela.server.serve import serve as run

    sys.exit(run(settings))


def main() -> None:
    cli()
