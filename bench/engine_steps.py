"""Where the engine mapping's CPU goes: each step of the chain timed alone, analysis vs execution.

    python -m bench.engine_steps [--requests 20]

`--requests` requests of 512 spans (`bench/payloads.py`) are parsed into a Memory copy of
`otlp_ingest`; each step's SELECT then runs over the previous step's Memory table, once with
`LIMIT 0` (what an insert pays whatever its size: analysing the SQL) and once whole (the rest is
execution, printed per span). CPU is `time.process_time()` of this process (chDB's threads included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from string import Template

from bench.payloads import build_payloads
from prela.exporters import otlp_engine
from prela.exporters.clickhouse import apply_schema, close_all, connect
from prela.exporters.otlp_insert import frame

DB = "prela"
BATCH = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="512-span requests")
    args = parser.parse_args()
    spans = args.requests * BATCH
    with tempfile.TemporaryDirectory() as data_dir:
        client = connect(f"chdb://{data_dir}")
        client.command(f"CREATE DATABASE IF NOT EXISTS {DB}")
        apply_schema(client, DB, 30)
        raw = otlp_engine.render_raw_table(DB).replace(otlp_engine.RAW_TABLE, "m0")
        client.command(raw.replace("ENGINE = Null", "ENGINE = Memory"))
        bodies = build_payloads(args.requests, BATCH).bodies
        settings = {
            "format_schema": otlp_engine.proto_schema(),
            "format_schema_source": "string",
            "format_schema_message_name": otlp_engine.PROTO_MESSAGE,
        }
        cpu = time.process_time()
        block = frame([("bench", body) for body in bodies])
        client.raw_insert(f"{DB}.m0", insert_block=block, fmt="Protobuf", settings=settings)
        print(f"{spans} spans; Protobuf parse: {(time.process_time() - cpu) / spans * 1e6:.1f} CPU-us/span")
        total_analysis = total_run = 0.0
        for n, sql in enumerate(otlp_engine.render_chain(DB)):
            query = Template(sql).safe_substitute(prev=f"{DB}.m{n}")
            query = query.replace(f"{DB}.{otlp_engine.RAW_TABLE}", f"{DB}.m0")
            cpu = time.process_time()
            client.command(f"CREATE TABLE {DB}.empty{n + 1} ENGINE = Memory AS {query} LIMIT 0")
            analysis = time.process_time() - cpu
            cpu = time.process_time()
            client.command(f"CREATE TABLE {DB}.m{n + 1} ENGINE = Memory AS {query}")
            run = max(time.process_time() - cpu - analysis, 0.0)
            total_analysis, total_run = total_analysis + analysis, total_run + run
            print(
                f"step {n + 1:2d}: analysis {analysis * 1000:4.0f} ms, execution {run / spans * 1e6:5.1f} CPU-us/span"
            )
        print(
            f"chain: analysis {total_analysis * 1000:.0f} ms per insert, execution {total_run / spans * 1e6:.1f} CPU-us/span"
        )
        close_all()


if __name__ == "__main__":
    main()
