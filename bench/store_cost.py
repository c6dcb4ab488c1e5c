"""What one insert into `spans` costs the store: the table, its text index and each materialized view.

    python -m bench.store_cost [--requests 40] [--repeat 5]

`--requests` bench requests of 512 spans (`bench/payloads.py`) are mapped by the Python mapping
(`collector/mapping.map_export_request`) into a Memory table shaped like `spans`, in a temporary
chDB data dir holding the real schema (`apply_schema`). That batch is then inserted with
`INSERT ... SELECT * FROM` the Memory copy, `--repeat` times per case, and the median CPU
(`time.process_time()` of this process, chDB's threads included) is printed per span:

- `spans`, every view attached (what `prela serve` pays);
- the same with the part layout of before migration 0010 (Wide parts from 10 MiB, every part a
  directory of files) instead of one `data.packed` file per part under 64 MiB;
- a clone of `spans` with no view, with its text index and without it;
- each view alone (the others DETACHed, ATTACHed back after): what it adds over `spans` with no
  view. A cascaded view (one fed by another view's table) keeps its upstream view attached and is
  charged only what it adds to it.

The cases run round-robin, `--repeat` rounds after one warm-up round, so a change in the machine's
load hits every case alike. Every target table is emptied before each insert (parts and merges stay
alike between cases) and the inserts skip block deduplication (the same batch goes in again and
again). The machine is shared: trust the total and the big views, not a view's +-1.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time

from clickhouse_connect.driver.client import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.payloads import build_payloads
from prela.collector.mapping import map_export_request
from prela.exporters.clickhouse import ROW_TABLES, apply_schema, close_all, connect
from prela.model import SpanRecord

DB = "prela"
BATCH = 512
SETTINGS = "SETTINGS insert_deduplicate = 0"
# The part layout of each table before migration 0010 (ClickHouse's defaults) and since.
LAYOUT_BEFORE_0010 = "min_bytes_for_wide_part = 10485760, min_bytes_for_full_part_storage = 0"
LAYOUT_0010 = "min_bytes_for_wide_part = 67108864, min_bytes_for_full_part_storage = 67108864"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="512-span requests in the batch")
    parser.add_argument("--repeat", type=int, default=5, help="inserts per case (the median is printed)")
    parser.add_argument(
        "--window",
        type=int,
        default=60,
        help="seconds the batch's start times are folded into (live traffic); 0 keeps the payloads' 13 days",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        client = connect(f"chdb://{data_dir}")
        client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
        apply_schema(client, DB, 30)
        spans = _load_batch(client, args.requests, args.window)
        views = _views(client)
        targets = sorted({target for target, _ in views.values()} | {"spans", "spans_clone", "spans_plain"})
        client.command(f"CREATE TABLE {DB}.spans_clone AS {DB}.spans")
        client.command(f"CREATE TABLE {DB}.spans_plain AS {DB}.spans")
        client.command(f"ALTER TABLE {DB}.spans_plain DROP INDEX idx_text")

        base_case = ("spans, every view detached", "spans", frozenset[str]())
        before_0010 = "spans + every view, parts before 0010"
        cases = [
            ("spans + every view", "spans", frozenset(views)),
            (before_0010, "spans", frozenset(views)),
            ("spans clone, no view", "spans_clone", frozenset(views)),
            ("spans clone, no view, no text index", "spans_plain", frozenset(views)),
            base_case,
        ]
        order = _upstream_first(views)
        cases += [(view, "spans", frozenset(_chain(views, view))) for view in order]
        samples: dict[str, list[float]] = {label: [] for label, _, _ in cases}
        for round_ in range(args.repeat + 1):  # round-robin: a change in load hits every case alike
            for label, table, keep in cases:
                layout = LAYOUT_BEFORE_0010 if label == before_0010 else LAYOUT_0010
                for target in targets:
                    client.command(f"ALTER TABLE {DB}.{target} MODIFY SETTING {layout}")
                spent = _with_views(client, views, keep, table, targets)
                if round_:  # round 0 warms up (first-time allocations, query caches)
                    samples[label].append(spent)
        cost = {label: statistics.median(times) / spans * 1e6 for label, times in samples.items()}
        print(
            f"{spans} spans, median of {args.repeat} inserts, CPU-us/span (process CPU, chDB threads included)"
        )
        for label, _, _ in cases[:5]:
            print(f"{label:38s} {cost[label]:6.1f}")
        base = cost[base_case[0]]
        alone: dict[str, float] = {}
        for view in order:
            upstream = sum(alone[v] for v in _chain(views, view) - {view})
            alone[view] = cost[view] - base - upstream
            fed = views[view][1]
            note = "" if fed == "spans" else f"  (fed by {fed}: over its upstream)"
            print(f"  {view:36s} {alone[view]:+6.1f}{note}")
        print(f"{'views, sum of each alone':38s} {sum(alone.values()):+6.1f}")
        print(f"{'views, all together':38s} {cost['spans + every view'] - base:+6.1f}")
        close_all()


def _load_batch(client: Client, requests: int, window: int) -> int:
    """Map the bench requests into `batch` (Memory, the columns of `spans`); returns the span count.

    With `window` seconds, start times are folded into that many seconds (durations kept): a batch
    of live traffic, whose per-minute roll-ups fold many spans into one row."""
    records: list[SpanRecord] = []
    for body in build_payloads(requests, BATCH).bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        records.extend(map_export_request(request, "bench").records)
    if window:
        first, width = min(r.started_at_ns for r in records), window * 1_000_000_000
        records = [_folded(r, first, width) for r in records]
    client.command(f"CREATE TABLE {DB}.batch ENGINE = Memory AS SELECT * FROM {DB}.spans LIMIT 0")
    columns = list(ROW_TABLES[SpanRecord][1])
    data = [list(column) for column in zip(*records, strict=True)]
    client.insert(f"{DB}.batch", data, column_names=columns, column_oriented=True)
    return len(records)


def _insert(client: Client, table: str, targets: list[str]) -> float:
    """CPU-seconds of inserting the batch into `table`, every target table emptied first."""
    for target in targets:
        client.command(f"TRUNCATE TABLE {DB}.{target}")
    started = time.process_time()
    client.command(f"INSERT INTO {DB}.{table} SELECT * FROM {DB}.batch {SETTINGS}")
    return time.process_time() - started


def _folded(record: SpanRecord, first: int, width: int) -> SpanRecord:
    started = first + (record.started_at_ns - first) % width
    return record._replace(started_at_ns=started, ended_at_ns=started + record.duration_ns)


def _views(client: Client) -> dict[str, tuple[str, str]]:
    """Every materialized view of the database: name -> (target table, source table)."""
    rows = client.query(
        "SELECT name, create_table_query FROM system.tables "
        "WHERE database = {db:String} AND engine = 'MaterializedView'",
        parameters={"db": DB},
    ).result_rows
    sources = client.query(
        "SELECT name, dependencies_table FROM system.tables WHERE database = {db:String}",
        parameters={"db": DB},
    ).result_rows
    fed_by = {view: table for table, dependents in sources for view in dependents}
    views = {}
    for name, create in rows:
        target = re.search(r"\bTO\s+`?\w+`?\.`?(\w+)`?", create)
        if target is None or name not in fed_by:
            raise RuntimeError(f"{name}: not a TO view with a known source: {create[:200]}")
        views[name] = (target.group(1), fed_by[name])
    return views


def _chain(views: dict[str, tuple[str, str]], view: str) -> set[str]:
    """`view` and the views upstream of it (those writing the table it reads)."""
    chain = {view}
    source = views[view][1]
    while source != "spans":
        upstream = next(v for v, (target, _) in views.items() if target == source)
        chain.add(upstream)
        source = views[upstream][1]
    return chain


def _upstream_first(views: dict[str, tuple[str, str]]) -> list[str]:
    return sorted(views, key=lambda v: (len(_chain(views, v)), v))


def _with_views(
    client: Client, views: dict[str, tuple[str, str]], keep: frozenset[str], table: str, targets: list[str]
) -> float:
    """`_insert` with only the views in `keep` attached; every view is attached again afterwards."""
    detached = [v for v in views if v not in keep]
    for view in detached:
        client.command(f"DETACH TABLE {DB}.{view}")
    try:
        return _insert(client, table, targets)
    finally:
        for view in detached:
            client.command(f"ATTACH TABLE {DB}.{view}")


if __name__ == "__main__":
    main()
