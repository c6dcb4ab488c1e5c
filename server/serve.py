"""`prela serve`: receivers, embedded pipeline, writer and query API in one process.

Shutdown keeps the promise made to clients: stop taking requests, let
in-flight requests finish (they wait for their spans to be stored), then drain
the queue into ClickHouse and exit.
"""

from __future__ import annotations

import asyncio
import logging

from prela.auth import AuthRuntime
from prela.collector.ingest import Ingest, replay_wal
from prela.collector.otlp_grpc import OtlpGrpcReceiver, build_grpc_server
from prela.collector.otlp_http import OtlpHttpReceiver, build_otlp_http_app
from prela.exporters.clickhouse import ClickHouseWriter, apply_schema, close_all, connect
from prela.exporters.queue import BatchWriter, QueueExporter, SpanQueue
from prela.exporters.wal import WriteAheadLog
from prela.query.app import build_query_app
from prela.query.store import TraceStore
from prela.server.access import auth_config, key_routes
from prela.server.runtime import Servers, http_server, run_role
from prela.server.settings import Settings

logger = logging.getLogger(__name__)


async def run_embedded(settings: Settings, stop: asyncio.Event) -> bool:
    """Run until `stop` is set, then drain; True when every accepted span was stored."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    client = await asyncio.to_thread(connect, settings.clickhouse_dsn())
    await asyncio.to_thread(apply_schema, client, settings.clickhouse_database, settings.ttl_days)

    clickhouse = ClickHouseWriter(client, settings.clickhouse_database)
    wal = WriteAheadLog(settings.data_dir / "wal", fsync=settings.wal_fsync)
    replayed = await asyncio.to_thread(replay_wal, wal, clickhouse, settings.batch_spans)
    if replayed:
        logger.info("replayed spans=%d from the write-ahead log (accepted before the last stop)", replayed)
    queue = SpanQueue(settings.queue_spans)
    writer = BatchWriter(
        queue,
        clickhouse,
        batch_spans=settings.batch_spans,
        linger_s=settings.batch_linger_ms / 1000,
        wal=wal,
    )
    auth = await AuthRuntime.start(auth_config(settings), settings.data_dir)
    ingest = Ingest(QueueExporter(queue, wal), auth.rate_limiter)

    store = TraceStore(client, settings.clickhouse_database)

    async def health() -> dict[str, bool]:
        return {"clickhouse": writer.healthy}

    async def ready() -> dict[str, bool]:
        clickhouse = writer.healthy and await asyncio.to_thread(store.ping)
        return {"clickhouse": clickhouse, "store": await auth.store.ping()}

    grpc_server, grpc_port = build_grpc_server(
        OtlpGrpcReceiver(ingest, auth.ingest.authenticate),
        settings.host,
        settings.otlp_grpc_port,
        settings.max_request_bytes,
    )
    otlp_app = build_otlp_http_app(
        OtlpHttpReceiver(
            ingest, settings.max_request_bytes, settings.retry_after_seconds, auth.ingest.authenticate
        ),
        cors_origins=settings.cors_origins,
        health=health,
        ready=ready,
    )
    query_app = build_query_app(
        store,
        auth.query.authenticate,
        cors_origins=settings.cors_origins,
        extra_routes=key_routes(auth),
        extra_ready=lambda: _store_ready(auth),
    )
    servers = Servers(
        [
            http_server(otlp_app, settings.host, settings.otlp_http_port, settings.drain_timeout_s),
            http_server(query_app, settings.host, settings.query_port, settings.drain_timeout_s),
        ],
        grpc_server,
        settings.drain_timeout_s,
    )
    writer.start()
    if await servers.start():
        logger.info(
            "prela serve ready otlp_grpc=%s:%d otlp_http=%s:%d query=%s:%d data_dir=%s auth: %s",
            settings.host, grpc_port, settings.host, settings.otlp_http_port, settings.host,
            settings.query_port, settings.data_dir.resolve(), auth.describe(),
        )  # fmt: skip
        await stop.wait()
    logger.info("shutting down: refusing new requests, draining queued spans=%d", queue.depth)
    await servers.stop()
    drained = await asyncio.to_thread(writer.stop, settings.drain_timeout_s)
    if drained:
        logger.info("drained: every accepted span is stored inserted_spans=%d", writer.inserted_spans)
    else:
        logger.error("drain timed out: unstored spans stay in the write-ahead log for the next start")
    wal.close()
    await auth.close()
    close_all()
    return drained


async def _store_ready(auth: AuthRuntime) -> dict[str, bool]:
    return {"store": await auth.store.ping()}


def serve(settings: Settings) -> int:
    """The `prela serve` process: returns the exit code."""
    return run_role(lambda stop: run_embedded(settings, stop))
