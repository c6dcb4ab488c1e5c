"""Spans per CPU-second: the Python mapping + column insert vs the engine mapping (raw OTLP insert).

    python -m bench.bench_engine_mapping [--batches 3] [--requests 20] [--runs 3]

Both paths store the same requests (`bench/payloads.py`: 512 realistic ~1 KB LLM spans each,
`--requests` of them per insert, ~10k spans) into a chDB store with the real schema
(`apply_schema`: the spans table and every view on it):

- python: `ExportTraceServiceRequest.FromString` + `map_export_request` + `ClickHouseWriter.insert`;
- engine: `EngineOtlpInserter.insert` of the raw bytes (ClickHouse parses and maps them).

CPU is `time.process_time()` of this process, which holds chDB: every thread, ClickHouse's
included. Each run inserts `--batches` fresh batches (new ids); the median of `--runs` runs is
printed, with the wall time per insert.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.payloads import build_payloads
from prela.collector.mapping import map_export_request
from prela.exporters.clickhouse import ClickHouseWriter, apply_schema, close_all, connect
from prela.exporters.otlp_insert import EngineOtlpInserter

DB = "prela"
BATCH = 512


def _python(writer: ClickHouseWriter) -> Callable[[list[bytes]], None]:
    def insert(bodies: list[bytes]) -> None:
        records = []
        for body in bodies:
            records += map_export_request(ExportTraceServiceRequest.FromString(body), "bench").records
        writer.insert(records)

    return insert


def _engine(inserter: EngineOtlpInserter) -> Callable[[list[bytes]], None]:
    return lambda bodies: inserter.insert([("bench", body) for body in bodies])


def _measure(insert: Callable[[list[bytes]], None], batches: list[list[bytes]]) -> tuple[float, float]:
    """(spans per CPU-second, wall seconds per insert) over `batches`."""
    spans = sum(len(batch) for batch in batches) * BATCH
    cpu, wall = time.process_time(), time.perf_counter()
    for batch in batches:
        insert(batch)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return spans / cpu, wall / len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3, help="inserts per run")
    parser.add_argument("--requests", type=int, default=20, help="512-span requests per insert")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    per_run = args.batches * args.requests
    bodies = build_payloads(per_run * 2 * args.runs + 2 * args.requests, BATCH).bodies  # + warm-up
    chunks = [bodies[i : i + args.requests] for i in range(0, len(bodies), args.requests)]
    with tempfile.TemporaryDirectory() as data_dir:
        client = connect(f"chdb://{data_dir}")
        client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
        apply_schema(client, DB, 30, engine_mapping=True)
        paths = {
            "python": _python(ClickHouseWriter(client, DB)),
            "engine": _engine(EngineOtlpInserter(client, DB)),
        }
        for insert in paths.values():  # warm: first insert of each path (contexts, schema caches)
            insert(chunks.pop())
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
        for _ in range(args.runs):
            for name, insert in paths.items():
                batches, chunks = chunks[: args.batches], chunks[args.batches :]
                results[name].append(_measure(insert, batches))
        rows = client.query(f"SELECT count() FROM {DB}.spans").result_rows[0][0]
        close_all()

    spans = args.requests * BATCH
    print(f"{spans} spans per insert ({args.requests} requests of {BATCH}), {args.batches} inserts per run, "
          f"median of {args.runs} runs; {rows} rows stored")  # fmt: skip
    for name, runs in results.items():
        rate = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        print(f"{name:7s}: {rate:10,.0f} spans per CPU-second ({1e6 / rate:6.2f} CPU-us/span), "
              f"{wall * 1000:7.0f} ms wall per insert")  # fmt: skip


if __name__ == "__main__":
    main()
