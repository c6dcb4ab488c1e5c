"""`prela serve`: receivers, embedded pipeline, writer and query API in one process.

Composition happens here and only here. Shutdown order keeps the promise made
to clients: stop taking requests, let in-flight requests finish (they wait for
their spans to be stored), then drain the queue into ClickHouse and exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette

from prela.collector.ingest import Ingest
from prela.collector.otlp_grpc import OtlpGrpcReceiver, build_grpc_server
from prela.collector.otlp_http import OtlpHttpReceiver, build_otlp_http_app
from prela.exporters.clickhouse import ClickHouseWriter, apply_schema, close_all, connect
from prela.exporters.queue import BatchWriter, QueueExporter, SpanQueue
from prela.query.app import build_query_app
from prela.query.store import TraceStore
from prela.server.settings import Settings

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to `serve`, which runs several servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _http_server(app: Starlette, host: str, port: int, settings: Settings) -> _Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=settings.drain_timeout_s,
        limit_concurrency=2048,
        backlog=2048,
    )
    return _Server(config)


@dataclass
class EmbeddedApp:
    """Everything `prela serve` runs, built but not started (tests start it in-process)."""

    settings: Settings
    queue: SpanQueue
    writer: BatchWriter
    grpc_receiver: OtlpGrpcReceiver
    http_servers: list[_Server] = field(default_factory=list)

    @property
    def otlp_http(self) -> _Server:
        return self.http_servers[0]


def build_embedded(settings: Settings) -> EmbeddedApp:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    client = connect(settings.clickhouse_dsn())
    apply_schema(client, settings.clickhouse_database, settings.ttl_days)

    queue = SpanQueue(settings.queue_spans)
    writer = BatchWriter(
        queue,
        ClickHouseWriter(client, settings.clickhouse_database),
        batch_spans=settings.batch_spans,
        linger_s=settings.batch_linger_ms / 1000,
    )
    ingest = Ingest(QueueExporter(queue, ack_timeout_s=settings.ack_timeout_s))
    project_id = settings.project_id

    otlp_app = build_otlp_http_app(
        OtlpHttpReceiver(ingest, settings.max_request_bytes, settings.retry_after_seconds, project_id),
        cors_origins=settings.cors_origins,
    )
    query_app = build_query_app(
        TraceStore(client, settings.clickhouse_database),
        project_of=lambda request: project_id,
        cors_origins=settings.cors_origins,
    )
    return EmbeddedApp(
        settings=settings,
        queue=queue,
        writer=writer,
        grpc_receiver=OtlpGrpcReceiver(ingest, project_id),
        http_servers=[
            _http_server(otlp_app, settings.host, settings.otlp_http_port, settings),
            _http_server(query_app, settings.host, settings.query_port, settings),
        ],
    )


async def run_embedded(app: EmbeddedApp, stop: asyncio.Event) -> bool:
    """Run until `stop` is set, then drain; True when every accepted span was stored."""
    settings = app.settings
    # grpc.aio binds to the running loop, so the server is built here.
    grpc_server, grpc_port = build_grpc_server(
        app.grpc_receiver, settings.host, settings.otlp_grpc_port, settings.max_request_bytes
    )
    app.writer.start()
    await grpc_server.start()
    http_tasks = [asyncio.create_task(s.serve()) for s in app.http_servers]
    while not all(s.started for s in app.http_servers):
        if any(t.done() for t in http_tasks):
            stop.set()  # a port could not be bound: uvicorn logged why
            break
        await asyncio.sleep(0.02)
    else:
        logger.info(
            "prela serve ready otlp_grpc=%s:%d otlp_http=%s:%d query=%s:%d data_dir=%s auth=off project_id=%s",
            settings.host,
            grpc_port,
            settings.host,
            settings.otlp_http_port,
            settings.host,
            settings.query_port,
            settings.data_dir.resolve(),
            settings.project_id,
        )
    await stop.wait()
    logger.info("shutting down: refusing new requests, draining queued spans=%d", app.queue.depth)
    for server in app.http_servers:
        server.should_exit = True
    await asyncio.gather(
        grpc_server.stop(settings.drain_timeout_s),
        *http_tasks,
        return_exceptions=True,
    )
    drained = await asyncio.to_thread(app.writer.stop, settings.drain_timeout_s)
    if drained:
        logger.info("drained: every accepted span is stored inserted_spans=%d", app.writer.inserted_spans)
    else:
        logger.error("drain timed out: spans not stored were answered with a retryable error")
    close_all()
    return drained


def serve(settings: Settings) -> int:
    """The `prela serve` process: returns the exit code."""
    app = build_embedded(settings)

    async def main() -> bool:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_embedded(app, stop)

    return 0 if asyncio.run(main()) else 1
