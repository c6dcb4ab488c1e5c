"""Write-ahead log of the embedded pipeline: accepted requests survive a crash of `prela serve`.

A request is appended (its raw, decompressed body, with a sequence number)
before the client is answered; the writer checkpoints the highest sequence
number whose spans are in ClickHouse, and segments wholly below it are
deleted. At start, entries after the checkpoint are replayed; re-inserting
spans that were already stored is harmless (the replacing engine folds them).

Appends are single `os.write` calls to the page cache: they survive a process
crash (kill -9, OOM). `fsync=True` also survives a machine crash, at the cost
of one fsync per request.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from prela.exporters.base import PayloadKind

logger = logging.getLogger(__name__)

# crc32 (of everything after it), lsn, kind, project id length, payload length
_HEADER = struct.Struct("<IQBHI")
_SEGMENT_PREFIX, _SEGMENT_SUFFIX = "wal-", ".log"
_CHECKPOINT = "checkpoint"


@dataclass(frozen=True, slots=True)
class WalEntry:
    lsn: int
    kind: PayloadKind
    project_id: str
    payload: bytes


def _segment_name(first_lsn: int) -> str:
    return f"{_SEGMENT_PREFIX}{first_lsn:020d}{_SEGMENT_SUFFIX}"


class WriteAheadLog:
    def __init__(self, directory: Path, segment_bytes: int = 64 * 1024 * 1024, fsync: bool = False) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._lock = threading.Lock()
        self._checkpoint = self._read_checkpoint()
        self._next_lsn = max(self._checkpoint + 1, self._scan_end() + 1)
        self._fd = -1
        self._segment_size = 0
        self._segment_first = 0

    @property
    def checkpointed(self) -> int:
        return self._checkpoint

    def append(self, kind: PayloadKind, project_id: str, payload: bytes) -> int:
        """Log one accepted request; returns its sequence number."""
        project = project_id.encode()
        with self._lock:
            lsn = self._next_lsn
            self._next_lsn += 1
            rest = struct.pack("<QBHI", lsn, kind, len(project), len(payload))
            crc = zlib.crc32(payload, zlib.crc32(project, zlib.crc32(rest)))
            record = struct.pack("<I", crc) + rest + project + payload
            if self._fd < 0 or self._segment_size + len(record) > self._segment_bytes:
                self._roll(lsn)
            os.write(self._fd, record)
            if self._fsync:
                os.fsync(self._fd)
            self._segment_size += len(record)
            return lsn

    def checkpoint(self, lsn: int) -> None:
        """Everything up to `lsn` is stored: persist that and drop the segments wholly below it."""
        with self._lock:
            if lsn <= self._checkpoint:
                return
            self._checkpoint = lsn
            tmp = self._dir / (_CHECKPOINT + ".tmp")
            tmp.write_text(str(lsn))
            os.replace(tmp, self._dir / _CHECKPOINT)
            segments = self._segments()
            for (_, path), (next_first, _) in pairwise(segments):
                if next_first <= lsn + 1 and path.name != _segment_name(self._segment_first):
                    path.unlink(missing_ok=True)

    def pending(self) -> Iterator[WalEntry]:
        """Entries after the checkpoint, in order (read at start, before any append)."""
        for _, path in self._segments():
            for entry in self._read(path):
                if entry.lsn > self._checkpoint:
                    yield entry

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _roll(self, first_lsn: int) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        path = self._dir / _segment_name(first_lsn)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segment_size = 0
        self._segment_first = first_lsn

    def _segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self._dir.glob(f"{_SEGMENT_PREFIX}*{_SEGMENT_SUFFIX}"):
            digits = path.name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)]
            if digits.isdigit():
                found.append((int(digits), path))
        return sorted(found)

    def _read_checkpoint(self) -> int:
        try:
            return int((self._dir / _CHECKPOINT).read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _scan_end(self) -> int:
        last = 0
        for _, path in self._segments():
            for entry in self._read(path):
                last = entry.lsn
        return last

    def _read(self, path: Path) -> Iterator[WalEntry]:
        data = path.read_bytes()
        offset = 0
        while offset + _HEADER.size <= len(data):
            crc, lsn, kind, project_len, payload_len = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            end = start + project_len + payload_len
            body = data[offset + 4 : end]
            if end > len(data) or zlib.crc32(body) != crc or kind not in PayloadKind._value2member_map_:
                # A torn tail from a crash mid-append: that request was never answered.
                logger.warning("wal: ignoring a torn record path=%s offset=%d", path.name, offset)
                with path.open("r+b") as f:
                    f.truncate(offset)
                return
            project = data[start : start + project_len].decode()
            yield WalEntry(lsn, PayloadKind(kind), project, data[start + project_len : end])
            offset = end
