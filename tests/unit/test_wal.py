"""The write-ahead log: segments roll over at their size, checkpoints delete what is stored, and a
record torn by a crash mid-append is dropped (it was never answered) while everything before it stays."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from prela.exporters.base import PayloadKind
from prela.exporters.wal import WriteAheadLog

HEADER_BYTES = 19  # crc32, lsn, kind, project id length, payload length
RECORD_BYTES = HEADER_BYTES + 1 + 100  # project "p" and a 100-byte payload


def payload(n: int) -> bytes:
    return bytes([n]) * 100


def segment_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("wal-*.log"))


def entries(directory: Path) -> list[tuple[int, bytes]]:
    return [(e.lsn, e.payload) for e in WriteAheadLog(directory).pending()]


def fill(directory: Path, count: int, segment_bytes: int = 2 * RECORD_BYTES) -> WriteAheadLog:
    wal = WriteAheadLog(directory, segment_bytes=segment_bytes)
    for n in range(1, count + 1):
        assert wal.append(PayloadKind.OTLP_PROTOBUF, "p", payload(n)) == n
    return wal


def test_a_full_segment_rolls_over_to_one_named_after_its_first_sequence_number(tmp_path: Path) -> None:
    fill(tmp_path, 5).close()
    assert segment_names(tmp_path) == [
        "wal-00000000000000000001.log",
        "wal-00000000000000000003.log",
        "wal-00000000000000000005.log",
    ]
    assert [(tmp_path / name).stat().st_size for name in segment_names(tmp_path)] == [
        2 * RECORD_BYTES,
        2 * RECORD_BYTES,
        RECORD_BYTES,
    ]
    assert entries(tmp_path) == [(n, payload(n)) for n in range(1, 6)]


def test_a_record_larger_than_a_segment_gets_a_segment_of_its_own(tmp_path: Path) -> None:
    fill(tmp_path, 3, segment_bytes=RECORD_BYTES // 2).close()
    assert len(segment_names(tmp_path)) == 3
    assert entries(tmp_path) == [(n, payload(n)) for n in range(1, 4)]


def test_a_checkpoint_deletes_only_segments_wholly_stored(tmp_path: Path) -> None:
    wal = fill(tmp_path, 5)
    wal.checkpoint(3)  # segment 1 (records 1-2) is stored; segment 3 still holds record 4
    wal.close()
    assert segment_names(tmp_path) == ["wal-00000000000000000003.log", "wal-00000000000000000005.log"]
    assert entries(tmp_path) == [(4, payload(4)), (5, payload(5))]


def test_a_barely_used_segment_being_written_is_kept_when_all_is_stored(tmp_path: Path) -> None:
    wal = fill(tmp_path, 1, segment_bytes=8 * RECORD_BYTES)  # under a quarter full
    wal.checkpoint(1)
    assert segment_names(tmp_path) == ["wal-00000000000000000001.log"]
    assert wal.append(PayloadKind.OTLP_JSON, "p", b"{}") == 2
    wal.close()
    assert [(e.lsn, e.kind) for e in WriteAheadLog(tmp_path).pending()] == [(2, PayloadKind.OTLP_JSON)]


def test_a_quarter_full_segment_is_dropped_once_all_is_stored(tmp_path: Path) -> None:
    wal = fill(tmp_path, 5)
    wal.checkpoint(5)
    assert segment_names(tmp_path) == []
    assert wal.append(PayloadKind.OTLP_JSON, "p", b"{}") == 6
    wal.close()
    assert segment_names(tmp_path) == ["wal-00000000000000000006.log"]
    assert [(e.lsn, e.kind) for e in WriteAheadLog(tmp_path).pending()] == [(6, PayloadKind.OTLP_JSON)]


def test_sequence_numbers_continue_after_a_restart(tmp_path: Path) -> None:
    fill(tmp_path, 4).close()
    reopened = WriteAheadLog(tmp_path, segment_bytes=2 * RECORD_BYTES)
    assert reopened.append(PayloadKind.PRELA_JSON, "q", b"{}") == 5
    reopened.close()
    assert [(e.lsn, e.project_id) for e in WriteAheadLog(tmp_path).pending()][-1] == (5, "q")


def test_a_torn_tail_is_dropped_and_the_records_before_it_replay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fill(tmp_path, 3, segment_bytes=10 * RECORD_BYTES).close()
    [segment] = [tmp_path / name for name in segment_names(tmp_path)]
    with segment.open("r+b") as f:  # the crash came in the middle of writing record 3
        f.truncate(3 * RECORD_BYTES - 10)

    with caplog.at_level(logging.WARNING, logger="prela.exporters.wal"):
        wal = WriteAheadLog(tmp_path)
    assert "ignoring a torn record" in caplog.text and f"offset={2 * RECORD_BYTES}" in caplog.text
    assert segment.stat().st_size == 2 * RECORD_BYTES  # cut back to the last whole record
    assert wal.append(PayloadKind.OTLP_PROTOBUF, "p", payload(9)) == 3  # the torn one was never answered
    wal.close()
    assert entries(tmp_path) == [(1, payload(1)), (2, payload(2)), (3, payload(9))]


def test_a_record_whose_checksum_does_not_match_is_treated_as_torn(tmp_path: Path) -> None:
    fill(tmp_path, 2, segment_bytes=10 * RECORD_BYTES).close()
    [segment] = [tmp_path / name for name in segment_names(tmp_path)]
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte in record 2's payload
    segment.write_bytes(bytes(data))
    assert entries(tmp_path) == [(1, payload(1))]
    assert segment.stat().st_size == RECORD_BYTES
