"""The span's columns are defined once (`model/span.py` `SpanRecord`): the `spans` table, the Python
insert, the engine mapping and the Kafka wire format (`prela.v1.Span`, for old messages) must all agree
with it. A column added in one place and not the others fails here, not at the first insert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from prela.exporters.clickhouse import INSERT_COLUMNS, apply_schema, close_all, connect
from prela.exporters.otlp_engine import SPAN_TABLE_COLUMNS
from prela.model.span import SPAN_COLUMNS
from prela.proto.prela_spans_pb2 import Span

DB = "prela"


@pytest.fixture(scope="module")
def spans_columns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[tuple[str, str]]]:
    client: Client = connect(f"chdb://{tmp_path_factory.mktemp('columns')}")
    apply_schema(client, DB, 30)
    rows = client.query(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = 'spans' ORDER BY position",
        parameters={"db": DB},
    ).result_rows
    yield [(str(name), str(kind)) for name, kind in rows]
    close_all()


def test_the_spans_table_has_the_span_record_columns_in_order(spans_columns: list[tuple[str, str]]) -> None:
    names = [name for name, _ in spans_columns]
    # ingested_at is filled by the table's default; migration 4 added the columns after it.
    assert [n for n in names if n != "ingested_at"] == list(INSERT_COLUMNS)
    assert "ingested_at" in names


def test_the_column_types_hold_what_the_record_carries(spans_columns: list[tuple[str, str]]) -> None:
    types = dict(spans_columns)
    for column in INSERT_COLUMNS:
        if column in ("started_at", "ended_at"):
            assert types[column] == "DateTime64(9)", column
        elif column.endswith("_tokens") or column == "duration_ns":
            assert types[column] == "UInt64", column
        elif column == "cost_usd":
            assert types[column] == "Decimal(18, 12)"
        else:
            assert types[column] in ("String", "LowCardinality(String)"), column


def test_the_python_insert_and_the_engine_mapping_fill_the_same_columns() -> None:
    assert SPAN_TABLE_COLUMNS == INSERT_COLUMNS
    assert len(INSERT_COLUMNS) == len(SPAN_COLUMNS)


def test_the_wire_format_carries_every_column_but_the_batch_s_project() -> None:
    # prela.v1.Span names differ (`attributes_json`, `started_at_unix_nano`); the codec's round trip of
    # every field is tests/unit/test_proto.py. Here: one field per column, no more, no fewer.
    assert len(Span.DESCRIPTOR.fields) == len(SPAN_COLUMNS) - 1
