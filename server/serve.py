"""`prela serve`: receivers, embedded pipeline, writer and query API in one process (the owner of
chDB and the write-ahead log); with `--workers N`, N-1 receiver workers share its OTLP ports and forward
to it (server/forward.py).

Shutdown keeps the promise made to clients: stop taking requests, let
in-flight requests finish, then drain the queue into ClickHouse and exit; what
a crash interrupts is replayed from the write-ahead log at the next start.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path
from typing import TextIO

from prela.auth import AuthRuntime
from prela.collector.ingest import Ingest
from prela.exporters.clickhouse import ClickHouseWriter, apply_schema, close_all, connect
from prela.exporters.clickhouse_version import check_server_version
from prela.exporters.otlp_insert import trace_inserter
from prela.exporters.queue import QueueExporter, SpanQueue
from prela.exporters.wal import WriteAheadLog
from prela.server.access import auth_config
from prela.server.compose import admission_limiter, build_query, build_receivers, trace_store
from prela.server.runtime import Servers, http_server, run_role
from prela.server.settings import ConfigurationError, Settings
from prela.writer.batch_writer import BatchWriter
from prela.writer.replay import replay_wal

logger = logging.getLogger(__name__)

# Past this share of PRELA_QUEUE_SPANS waiting, new requests are refused at admission.
QUEUE_ADMISSION_SHARE = 0.9


async def run_embedded(settings: Settings, stop: asyncio.Event) -> bool:
    """Run until `stop` is set, then drain; True when every accepted span was stored."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_data_dir(settings.data_dir)
    client = await asyncio.to_thread(connect, settings.clickhouse_dsn())
    await asyncio.to_thread(check_server_version, client)  # CLICKHOUSE_URL may name a server
    await asyncio.to_thread(
        apply_schema, client, settings.clickhouse_database, settings.ttl_days, settings.mapping == "engine"
    )

    clickhouse = ClickHouseWriter(client, settings.clickhouse_database)
    traces = trace_inserter(settings.mapping, client, settings.clickhouse_database)
    wal = WriteAheadLog(settings.data_dir / "wal", fsync=settings.wal_fsync)
    replayed = await asyncio.to_thread(replay_wal, wal, traces, clickhouse, settings.batch_spans)
    if replayed:
        logger.info("replayed spans=%d from the write-ahead log (accepted before the last stop)", replayed)
    queue = SpanQueue(settings.queue_spans, settings.queue_bytes)
    writer = BatchWriter(
        queue,
        traces,
        clickhouse,
        batch_spans=settings.batch_spans,
        linger_s=settings.batch_linger_ms / 1000,
        wal=wal,
        nice=settings.writer_nice,
    )
    auth = await AuthRuntime.start(auth_config(settings), settings.data_dir)
    ingest = Ingest(QueueExporter(queue, wal), auth.rate_limiter)

    store = trace_store(settings, client)

    async def health() -> dict[str, bool]:
        return {"clickhouse": writer.healthy}

    async def ready() -> dict[str, bool]:
        clickhouse = writer.healthy and await asyncio.to_thread(store.ping)
        return {"clickhouse": clickhouse, "store": await auth.store.ping()}

    def queue_nearly_full() -> bool:  # refused before decoding rather than by the queue after it
        return (
            queue.depth >= queue.capacity * QUEUE_ADMISSION_SHARE
            or queue.depth_bytes >= queue.capacity_bytes * QUEUE_ADMISSION_SHARE
        )

    grpc_server, grpc_port, otlp_app = build_receivers(
        settings, ingest, auth, health, ready, queue_nearly_full
    )
    query_app = build_query(settings, store, auth)
    workers = None
    if settings.workers > 1:  # N-1 receiver workers share the OTLP ports and forward to this process
        from prela.server.forward import ForwardServer, ReceiverWorkers, socket_path

        forward = ForwardServer(
            socket_path(settings.data_dir), ingest, settings,
            admission_limiter(settings, queue_nearly_full), health, ready,
        )  # fmt: skip
        workers = ReceiverWorkers(settings, forward)
        await workers.start_socket()
    servers = Servers(
        [
            http_server(
                otlp_app,
                settings.host,
                settings.otlp_http_port,
                settings.drain_timeout_s,
                reuse_port=workers is not None,
            ),
            http_server(query_app, settings.host, settings.query_port, settings.drain_timeout_s),
        ],
        grpc_server,
        settings.drain_timeout_s,
    )
    writer.start()
    started = await servers.start()
    if not started:
        logger.error("a listener could not start (see above); stopping")
    else:
        logger.info(
            "prela serve ready otlp_grpc=%s:%d otlp_http=%s:%d query=%s:%d data_dir=%s workers=%d auth: %s",
            settings.host, grpc_port, settings.host, settings.otlp_http_port, settings.host,
            settings.query_port, settings.data_dir.resolve(), settings.workers, auth.describe(),
        )  # fmt: skip
        if workers is not None:
            workers.start_workers()
        await stop.wait()
    logger.info("shutting down: refusing new requests, draining queued spans=%d", queue.depth)
    workers_clean = await workers.stop() if workers is not None else True
    await servers.stop()
    drained = await asyncio.to_thread(writer.stop, settings.drain_timeout_s)
    if drained:
        logger.info("drained: every accepted span is stored inserted_spans=%d", writer.inserted_spans)
    else:
        logger.error("drain timed out: unstored spans stay in the write-ahead log for the next start")
    wal.close()
    await auth.close()
    close_all()
    lock.close()
    return drained and started and workers_clean


def lock_data_dir(data_dir: Path) -> TextIO:
    """Hold `<data dir>/prela.lock` for the life of the process: one `prela serve` per data dir
    (chDB, the write-ahead log and SQLite all assume a single owner)."""
    handle = (data_dir / "prela.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigurationError(
            f"data dir {data_dir.resolve()} is in use by another prela process (pid {owner}); "
            "stop it or pass another --data-dir"
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def serve(settings: Settings, worker_index: int | None = None) -> int:
    """The `prela serve` process (the owner, or receiver worker `worker_index`): returns the exit code."""
    if worker_index is not None:
        from prela.server.forward import receiver_main

        return run_role(receiver_main(settings, worker_index))
    return run_role(lambda stop: run_embedded(settings, stop))
