"""Full-text index choice for `q=`: ClickHouse's `text` index against `tokenbf_v1` and `ngrambf_v1`.

Builds the same table three times in an embedded chDB (one index type each) with N spans of generated
prompt/completion text (a vocabulary with rare and common words), ordered like `prela.spans`
(by trace id, so matches are scattered), then times the searches the query API runs and reports the
index sizes. Run: `python -m bench.bench_search_index [--rows 2000000] [--runs 7]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import chdb.session

SEARCH_TEXT = "lowerUTF8(concat(name, ' ', input, ' ', output))"
INDEXES = {
    "text": "TYPE text(tokenizer = 'splitByNonAlpha') GRANULARITY 1",
    "tokenbf_v1": "TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1",
    "ngrambf_v1": "TYPE ngrambf_v1(4, 32768, 3, 0) GRANULARITY 1",
}
# word i of the vocabulary occurs with probability ~ 1/(i+1): w0 in most spans, w4999 in very few.
FILL = """
INSERT INTO t{suffix}
SELECT
    lower(hex(cityHash64(intDiv(number, 10)))) AS trace_id,
    'chat' AS name,
    arrayStringConcat(arrayMap(i -> concat('w', toString(
        toUInt32(exp(log(5000) * (cityHash64(number, i) % 1000000) / 1000000)) - 1)), range(40)), ' ') AS input,
    arrayStringConcat(arrayMap(i -> concat('w', toString(
        toUInt32(exp(log(5000) * (cityHash64(number, i, 7) % 1000000) / 1000000)) - 1)), range(20)), ' ') AS output
FROM numbers({rows})
"""
QUERIES = {
    "rare word": "hasToken({expr}, 'w4321')",
    "common word": "hasToken({expr}, 'w3')",
    "two words": "hasAllTokens({expr}, ['w1234', 'w4321'])",
}


def run(rows: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        session = chdb.session.Session(data)
        for name, index in INDEXES.items():
            suffix = name.split("_")[0]
            session.query(
                f"CREATE TABLE t{suffix} (trace_id String, name String, input String, output String, "
                f"INDEX idx {SEARCH_TEXT} {index}) ENGINE = MergeTree ORDER BY trace_id"
            )
            started = time.perf_counter()
            session.query(FILL.format(suffix=suffix, rows=rows))
            session.query(f"OPTIMIZE TABLE t{suffix} FINAL")
            fill_s = time.perf_counter() - started
            size = session.query(
                f"SELECT sum(secondary_indices_compressed_bytes), sum(data_compressed_bytes) "
                f"FROM system.parts WHERE table = 't{suffix}' AND active",
                "CSV",
            )
            index_bytes, data_bytes = (int(v) for v in str(size).strip().split(","))
            print(f"{name:11s} fill+merge {fill_s:6.1f} s   index {index_bytes / 2**20:7.1f} MiB "
                  f"({index_bytes / data_bytes:.0%} of the data)")  # fmt: skip
            for label, predicate in QUERIES.items():
                sql = f"SELECT count() FROM t{suffix} WHERE {predicate.format(expr=SEARCH_TEXT)}"
                times, count = [], ""
                for _ in range(runs):
                    started = time.perf_counter()
                    count = str(session.query(sql, "CSV")).strip()
                    times.append((time.perf_counter() - started) * 1000)
                print(f"    {label:12s} matches {count:>8s}   median {statistics.median(times):7.1f} ms   "
                      f"max {max(times):7.1f} ms")  # fmt: skip
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    run(args.rows, args.runs)


if __name__ == "__main__":
    main()
