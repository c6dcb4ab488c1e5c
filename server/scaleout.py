"""The scale-out roles on real engines: `prela collector` (ingest gateway), `prela writer`
(trace service), `prela query` (API gateway) and `prela migrate`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from aiokafka.errors import KafkaError
from clickhouse_connect.driver.client import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from prela.auth import AuthRuntime
from prela.collector.ingest import Ingest
from prela.exporters.base import PayloadKind
from prela.exporters.clickhouse import ClickHouseWriter, apply_schema, close_all, connect
from prela.exporters.clickhouse_version import ClickHouseVersionError, check_server_version
from prela.exporters.kafka import KafkaConfig, KafkaSender, create_topics
from prela.exporters.otlp_insert import trace_inserter
from prela.exporters.spool import KafkaSpool, segment_bytes_for
from prela.exporters.wal import WriteAheadLog
from prela.server.access import auth_config
from prela.server.compose import build_query, build_receivers, trace_store
from prela.server.runtime import Servers, http_server
from prela.server.serve import lock_data_dir
from prela.server.settings import ConfigurationError, Settings
from prela.telemetry.health import HealthCheck, health_endpoint
from prela.telemetry.metrics import metrics_endpoint
from prela.writer.backoff import Backoff
from prela.writer.kafka_writer import KafkaClickHouseWriter

logger = logging.getLogger(__name__)


def kafka_config(settings: Settings) -> KafkaConfig:
    if not settings.kafka_bootstrap_servers:
        raise ConfigurationError("KAFKA_BOOTSTRAP_SERVERS is required for this role (e.g. host:9092)")
    try:
        return KafkaConfig(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            security_protocol=settings.kafka_protocol(),
            sasl_mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_username,
            password=settings.kafka_password,
            topic_spans=settings.kafka_topic_spans,
            topic_traces=settings.kafka_topic_traces,
            topic_logs=settings.kafka_topic_logs,
            topic_metrics=settings.kafka_topic_metrics,
            topic_dead_letter=settings.kafka_topic_dead_letter,
            compression=settings.kafka_compression,
            linger_ms=settings.kafka_linger_ms,
            max_batch_bytes=settings.kafka_max_batch_bytes,
            max_message_bytes=settings.kafka_max_message_bytes,
            ack_timeout_s=settings.kafka_ack_timeout_s,
            client_id=settings.service_name,
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


async def ensure_topics(config: KafkaConfig) -> None:
    """Create missing topics when the cluster allows it; a managed cluster may not (Upstash: console)."""
    try:
        created = await create_topics(config)
        if created:
            logger.info("kafka topics created topics=%s", ",".join(created))
    except (KafkaError, TimeoutError, OSError) as exc:
        logger.warning("kafka topics not created (create them in the console if missing) error=%r", str(exc))


def worker_metrics_port(settings: Settings, worker: int) -> int:
    """Worker `worker` of `prela writer --workers N` serves /health, /stats and /metrics on the metrics
    port plus its index (worker 0 on the port itself, as with one worker); so does a collector worker
    (/health, /ready, /metrics) when there are several, its shared OTLP port answering for any of them."""
    return settings.metrics_port + worker if settings.metrics_port else 0


def _health_and_metrics_app(health: HealthCheck, ready: HealthCheck) -> Starlette:
    return Starlette(
        routes=[
            Route("/health", health_endpoint(health), methods=["GET"]),
            Route("/ready", health_endpoint(ready), methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )


def collector_spool_dir(settings: Settings, worker: int) -> Path:
    """Where worker `worker` of `prela collector --workers N` keeps its spool (and lock): the data dir for
    worker 0 (as with one worker), `<data dir>/workers/<i>` for the others."""
    return settings.data_dir if worker == 0 else settings.data_dir / "workers" / str(worker)


def _warn_of_former_workers_spools(settings: Settings) -> None:
    """A spool of a worker index this start does not run is sent by nobody: say so."""
    workers_dir = settings.data_dir / "workers"
    if not workers_dir.is_dir():
        return
    for spool_dir in sorted(workers_dir.iterdir()):
        if spool_dir.name.isdigit() and int(spool_dir.name) >= settings.workers:
            logger.warning(
                "the spool of a former worker is not sent by this start dir=%s: start with --workers %d "
                "or more to send what it may hold",
                spool_dir, int(spool_dir.name) + 1,
            )  # fmt: skip


async def run_collector(settings: Settings, stop: asyncio.Event, worker: int = 0) -> bool:
    """Spool every accepted request in the data dir, send the spool to Kafka; True when all was sent."""
    settings.require("collector")
    config = kafka_config(settings)
    root = collector_spool_dir(settings, worker)
    root.mkdir(parents=True, exist_ok=True)
    lock = lock_data_dir(root)
    wal = WriteAheadLog(
        root / "spool",
        segment_bytes=segment_bytes_for(settings.spool_max_bytes),
        fsync=settings.wal_fsync,
        max_bytes=settings.spool_max_bytes,
        recycle=True,
    )
    sender = KafkaSender(config, (lambda: ensure_topics(config)) if settings.kafka_create_topics else None)
    spool = KafkaSpool(wal, sender, config, settings.spool_max_bytes)
    if spool.pending_requests:
        logger.info(
            "the spool holds requests=%d accepted before the last stop: sending them to Kafka first",
            spool.pending_requests,
        )
    spool.start()
    if worker == 0:
        _warn_of_former_workers_spools(settings)
    auth = await AuthRuntime.start(auth_config(settings), settings.data_dir)
    ingest = Ingest(spool, auth.rate_limiter)

    # Ingest is healthy while it can spool: Kafka's state is shown, not judged (the spool absorbs its outages).
    async def health() -> dict[str, bool | str]:
        return {"spool": spool.has_room, "kafka": "ok" if sender.healthy else "down"}

    async def ready() -> dict[str, bool | str]:
        return {"spool": spool.has_room, "kafka": "ok" if await sender.check() else "down"}

    # No `downstream_full` here: a full spool is an outage, refused by the spool as `spool_full`.
    grpc_server, grpc_port, app = build_receivers(settings, ingest, auth, health, ready)
    http_servers = [
        http_server(
            app,
            settings.host,
            settings.otlp_http_port,
            settings.drain_timeout_s,
            reuse_port=settings.workers > 1,
        )
    ]
    if settings.workers > 1 and settings.metrics_port:  # a scrape target per worker: see worker_metrics_port
        observed = _health_and_metrics_app(health, ready)
        http_servers.append(http_server(observed, settings.host, worker_metrics_port(settings, worker), 5))
    servers = Servers(http_servers, grpc_server, settings.drain_timeout_s)
    started = await servers.start()
    if started:
        logger.info(
            "prela collector ready otlp_grpc=%s:%d otlp_http=%s:%d kafka=%s topics=%s,%s spool=%s auth: %s",
            settings.host, grpc_port, settings.host, settings.otlp_http_port, config.bootstrap_servers,
            config.topic_spans, config.topic_traces, (root / "spool").resolve(), auth.describe(),
        )  # fmt: skip
        await stop.wait()
    logger.info("shutting down: refusing new requests, sending the spool to Kafka")
    await servers.stop()
    drained = await spool.close(settings.drain_timeout_s)
    if drained:
        logger.info("drained: Kafka acknowledged every accepted span sent_spans=%d", spool.sent_spans)
    else:
        logger.error(
            "Kafka did not take the spool in time: requests=%d stay in it for the next start",
            spool.pending_requests,
        )
    await sender.stop()
    wal.close()
    await auth.close()
    lock.close()
    return started and drained


def require_supported_version(client: Client) -> None:
    """ClickHouseVersionError when the server is older than Prela's minimum (the CLI: exit code 2)."""
    logger.info("clickhouse server version=%s", check_server_version(client))


async def connect_until_ready(settings: Settings, stop: asyncio.Event) -> Client | None:
    """Connect to ClickHouse and apply the schema, retrying with back-off while it is unreachable.

    None when `stop` was set first.
    """
    backoff = Backoff(0.5, 10.0)
    while not stop.is_set():
        try:
            client = await asyncio.to_thread(connect, settings.clickhouse_dsn())
            await asyncio.to_thread(require_supported_version, client)
            await asyncio.to_thread(
                apply_schema,
                client,
                settings.clickhouse_database,
                settings.ttl_days,
                settings.mapping == "engine",
            )
            return client
        except ClickHouseVersionError:  # an old server: waiting will not fix it
            raise
        except Exception as exc:  # unreachable, auth, DNS: all retried, all logged
            delay = backoff.next()
            logger.warning(
                "clickhouse not ready target=%s retry_in_s=%.1f error=%r",
                settings.clickhouse_target(), delay, str(exc)[:300],
            )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    return None


async def run_writer(settings: Settings, stop: asyncio.Event, worker: int = 0) -> bool:
    settings.require("writer")
    metrics_port = worker_metrics_port(settings, worker)
    config = kafka_config(settings)
    # Health and metrics answer from the start, so an orchestrator sees a writer waiting for ClickHouse.
    current: list[KafkaClickHouseWriter] = []
    clickhouse: list[ClickHouseWriter] = []

    async def health() -> dict[str, bool]:
        if not current:
            return {"kafka": False, "clickhouse": False}
        return {"kafka": current[0].stats.kafka_ok, "clickhouse": current[0].stats.clickhouse_ok}

    async def ready() -> dict[str, bool]:
        if not current:
            return {"kafka": False, "clickhouse": False}
        kafka_ok, clickhouse_ok = await asyncio.gather(
            current[0].check_kafka(), asyncio.to_thread(clickhouse[0].ping)
        )
        return {"kafka": kafka_ok, "clickhouse": clickhouse_ok and current[0].stats.clickhouse_ok}

    async def stats(request: Request) -> Response:
        if not current:
            return JSONResponse({"error": "waiting for ClickHouse"}, status_code=503)
        s = current[0].stats
        return JSONResponse(
            {
                "consumed_messages": s.consumed_messages,
                "inserted_spans": s.inserted_spans,
                "inserted_batches": s.inserted_batches,
                "insert_errors": s.insert_errors,
                "dead_lettered": s.dead_lettered,
                "lag": {f"{topic}/{partition}": lag for (topic, partition), lag in sorted(s.lag.items())},
            }
        )

    app = Starlette(
        routes=[
            Route("/health", health_endpoint(health), methods=["GET"]),
            Route("/ready", health_endpoint(ready), methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )
    servers = Servers([http_server(app, settings.host, metrics_port, 5)], None, 5)
    if not await servers.start():
        return False
    client = await connect_until_ready(settings, stop)
    if client is None:
        await servers.stop()
        return True
    if settings.kafka_create_topics:
        await ensure_topics(config)
    clickhouse.append(ClickHouseWriter(client, settings.clickhouse_database))
    writer = KafkaClickHouseWriter(
        config,
        settings.writer_group,
        trace_inserter(settings.mapping, client, settings.clickhouse_database),
        clickhouse[0],
        batch_spans=settings.batch_spans,
        linger_s=max(settings.batch_linger_ms, 50) / 1000,
        signal_topics={
            config.topic_logs: PayloadKind.OTLP_LOGS,
            config.topic_metrics: PayloadKind.OTLP_METRICS,
        },
        otlp_topics=settings.otlp_topics(),
        default_project=settings.kafka_default_project,
    )
    current.append(writer)
    logger.info(
        "prela writer ready group=%s kafka=%s clickhouse=%s health=%s:%d worker=%d",
        settings.writer_group, config.bootstrap_servers, settings.clickhouse_target(), settings.host,
        metrics_port, worker,
    )  # fmt: skip
    await writer.run(stop)
    await servers.stop()
    logger.info(
        "prela writer stopped inserted_spans=%d dead_lettered=%d",
        writer.stats.inserted_spans, writer.stats.dead_lettered,
    )  # fmt: skip
    close_all()
    return True


async def run_query(settings: Settings, port: int, stop: asyncio.Event) -> bool:
    settings.require("query")
    client = await connect_until_ready(settings, stop)  # waits (logging why) while ClickHouse is down
    if client is None:
        return True
    auth = await AuthRuntime.start(auth_config(settings), settings.data_dir)
    app = build_query(settings, trace_store(settings, client), auth)
    servers = Servers([http_server(app, settings.host, port, settings.drain_timeout_s)], None, 5)
    if not await servers.start():
        return False
    logger.info(
        "prela query ready api=%s:%d clickhouse=%s auth: %s",
        settings.host, port, settings.clickhouse_target(), auth.describe(),
    )  # fmt: skip
    await stop.wait()
    await servers.stop()
    await auth.close()
    close_all()
    return True


async def migrate(settings: Settings) -> None:
    """Apply the ClickHouse schema and, when Kafka is configured, create the topics."""
    settings.require("migrate")
    client = await asyncio.to_thread(connect, settings.clickhouse_dsn())
    await asyncio.to_thread(require_supported_version, client)
    await asyncio.to_thread(
        apply_schema, client, settings.clickhouse_database, settings.ttl_days, settings.mapping == "engine"
    )
    if settings.kafka_bootstrap_servers:
        created = await create_topics(kafka_config(settings))
        logger.info("kafka topics ready created=%s", ",".join(created) or "none")
    close_all()
