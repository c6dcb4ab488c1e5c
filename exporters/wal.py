"""Write-ahead log of the embedded pipeline: accepted requests survive a crash of `prela serve`.

A request is appended (its raw, decompressed body, with a sequence number)
before the client is answered; the writer checkpoints the highest sequence
number whose spans are in ClickHouse, and segments wholly below it are
deleted. At start, entries after the checkpoint are replayed; re-inserting
spans that were already stored is harmless (the replacing engine folds them).

Appends are single `pwrite` calls to the page cache: they survive a process
crash (kill -9, OOM). `fsync=True` also survives a machine crash, at the cost
of one fsync per request. Within a segment sequence numbers only grow: a
record that does not continue them ends the segment, like a torn one.

The same log is the collector's spool (exporters/spool.py): bounded by
`max_bytes` (an append past it raises `WalFull`) and read while it is written
by a `WalReader`, which sees only whole records.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prela.exporters.base import PayloadKind

logger = logging.getLogger(__name__)

# crc32 (of everything after it), lsn, kind, project id length, payload length
_HEADER = struct.Struct("<IQBHI")
_SEGMENT_PREFIX, _SEGMENT_SUFFIX = "wal-", ".log"
_CHECKPOINT = "checkpoint"
_SPARE = "spare.log"  # a drained segment kept for reuse (recycle=True)


class WalFull(Exception):
    """An append would take the log past its `max_bytes`."""


@dataclass(frozen=True, slots=True)
class WalEntry:
    lsn: int
    kind: PayloadKind
    project_id: str
    payload: bytes


def _segment_name(first_lsn: int) -> str:
    return f"{_SEGMENT_PREFIX}{first_lsn:020d}{_SEGMENT_SUFFIX}"


class WriteAheadLog:
    def __init__(
        self,
        directory: Path,
        segment_bytes: int = 64 * 1024 * 1024,
        fsync: bool = False,
        max_bytes: int | None = None,
        recycle: bool = False,
    ) -> None:
        """`recycle`: keep one drained segment and overwrite it instead of creating a file, so appends
        write into pages the page cache already holds (much cheaper than fresh ones)."""
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._max_bytes = max_bytes
        self._recycle = recycle
        self._lock = threading.Lock()
        self._checkpoint = self._read_checkpoint()
        self._next_lsn = max(self._checkpoint + 1, self._scan_end() + 1)
        # final sizes of the segments not appended to (a recycled file may be longer than its records)
        self._final = {first: path.stat().st_size for first, path in self._segments()}
        spare = self._dir / _SPARE
        self._spare_size = spare.stat().st_size if spare.exists() else -1
        if not recycle and self._spare_size >= 0:
            spare.unlink()
            self._spare_size = -1
        self._bytes = sum(self._final.values()) + max(self._spare_size, 0)
        self._fd = -1
        self._segment_size = 0
        self._segment_first = 0
        self._file_size = 0  # of the segment appended to

    @property
    def checkpointed(self) -> int:
        return self._checkpoint

    @property
    def last_lsn(self) -> int:
        """The sequence number of the last append (the checkpoint when nothing was appended since)."""
        return self._next_lsn - 1

    @property
    def size_bytes(self) -> int:
        """Bytes of the log's files on disk (segments and the spare)."""
        return self._bytes

    def reader(self, after_lsn: int) -> WalReader:
        """A reader of the entries after `after_lsn`, also those appended later."""
        return WalReader(self, after_lsn)

    def append(self, kind: PayloadKind, project_id: str, payload: bytes) -> int:
        """Log one accepted request; returns its sequence number."""
        project = project_id.encode()
        with self._lock:
            lsn = self._next_lsn
            self._next_lsn += 1
            rest = struct.pack("<QBHI", lsn, kind, len(project), len(payload))
            crc = zlib.crc32(payload, zlib.crc32(project, zlib.crc32(rest)))
            record = struct.pack("<I", crc) + rest + project + payload
            if (
                self._max_bytes is not None
                and lsn > self._checkpoint + 1  # an empty log takes any record: never refused forever
                and self._bytes + len(record) > self._max_bytes
            ):
                self._next_lsn -= 1
                raise WalFull(f"the log holds {self._bytes} bytes; its limit is {self._max_bytes}")
            if self._fd < 0 or self._segment_size + len(record) > self._segment_bytes:
                self._roll(lsn)
            try:
                written = os.pwrite(self._fd, record, self._segment_size)
                if written != len(record):
                    raise OSError(28, "short write (No space left on device?)")
                if self._fsync:
                    os.fsync(self._fd)
            except OSError:
                self._next_lsn -= 1
                with contextlib.suppress(OSError):  # leave no torn record before the next append
                    os.ftruncate(self._fd, self._segment_size)
                    self._bytes -= self._file_size - self._segment_size
                    self._file_size = self._segment_size
                raise
            self._segment_size += len(record)
            if self._segment_size > self._file_size:
                self._bytes += self._segment_size - self._file_size
                self._file_size = self._segment_size
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
            if lsn >= self._next_lsn - 1 and self._fd >= 0 and self._segment_size >= self._segment_bytes // 4:
                self._close_segment()  # all of it is stored: the next append starts a new segment, this one goes
            segments = self._segments()
            successors = [first for first, _ in segments[1:]] + [self._next_lsn]
            for (first, path), next_first in zip(segments, successors, strict=True):
                if next_first <= lsn + 1 and (self._fd < 0 or first != self._segment_first):
                    self._drop(first, path)

    def _drop(self, first: int, path: Path) -> None:
        """A segment wholly checkpointed: kept as the spare (recycle=True) or deleted."""
        self._final.pop(first, None)
        try:
            size = path.stat().st_size
            if self._recycle and self._spare_size < 0:
                os.replace(path, self._dir / _SPARE)
                self._spare_size = size
            else:
                path.unlink()
                self._bytes -= size
        except FileNotFoundError:
            pass

    def pending(self) -> Iterator[WalEntry]:
        """Entries after the checkpoint, in order (read at start, before any append)."""
        for _, path in self._segments():
            for entry in self._read(path):
                if entry.lsn > self._checkpoint:
                    yield entry

    def close(self) -> None:
        with self._lock:
            self._close_segment()

    def _close_segment(self) -> None:
        if self._fd < 0:
            return
        if self._file_size > self._segment_size:  # a recycled file: its old tail goes
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._segment_size)
                self._bytes -= self._file_size - self._segment_size
        self._final[self._segment_first] = self._segment_size
        os.close(self._fd)
        self._fd = -1

    def _roll(self, first_lsn: int) -> None:
        self._close_segment()
        path = self._dir / _segment_name(first_lsn)
        if self._spare_size >= 0:
            os.replace(self._dir / _SPARE, path)
            self._fd = os.open(path, os.O_WRONLY)
            self._file_size, self._spare_size = self._spare_size, -1
        else:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            self._file_size = 0
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
        previous = int(path.name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)]) - 1
        for entry, end in parse_records(data, 0):
            if entry.lsn <= previous:  # an older record of a recycled file: the log ends here
                break
            yield entry
            previous, offset = entry.lsn, end
        if offset < len(data):
            # A torn tail from a crash mid-append (that request was never answered), or a recycled file's rest.
            logger.warning("wal: ignoring a torn record path=%s offset=%d", path.name, offset)
            with path.open("r+b") as f:
                f.truncate(offset)

    def _committed(self) -> tuple[int, int]:
        """(first lsn, size) of the segment being appended to; (0, 0) before the first append."""
        with self._lock:
            return (self._segment_first, self._segment_size) if self._fd >= 0 else (0, 0)

    def _final_size(self, first: int) -> int:
        """The size of a segment no longer appended to; 0 once it was dropped."""
        with self._lock:
            return self._final.get(first, 0)


def parse_records(data: bytes | memoryview, offset: int) -> Iterator[tuple[WalEntry, int]]:
    """The whole, intact records in `data` from `offset`, each with the offset after it."""
    size = len(data)
    while offset + _HEADER.size <= size:
        crc, lsn, kind, project_len, payload_len = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        end = start + project_len + payload_len
        if (
            end > size
            or zlib.crc32(data[offset + 4 : end]) != crc
            or kind not in PayloadKind._value2member_map_
        ):
            return
        project = bytes(data[start : start + project_len]).decode()
        yield WalEntry(lsn, PayloadKind(kind), project, bytes(data[start + project_len : end])), end
        offset = end


class WalReader:
    """Reads a log in order while it is appended to: only records whose append returned.

    One reader per log, used by one task; it only moves forward (the caller keeps
    what it read until it is done with it). Each record is read with `pread`
    straight into its payload, without an intermediate buffer.
    """

    def __init__(self, wal: WriteAheadLog, after_lsn: int) -> None:
        self._wal = wal
        self._after = after_lsn
        self._segment = -1  # first lsn of the segment being read; -1: not positioned
        self._fd = -1
        self._offset = 0

    def read(self, max_bytes: int) -> list[WalEntry]:
        """The next entries, at least one when any is there, about `max_bytes` of payload at most."""
        entries: list[WalEntry] = []
        budget = max_bytes
        while budget > 0:
            current_first, current_size = self._wal._committed()
            if self._segment < 0 and not self._open(self._first_segment()):
                return entries
            end = current_size if self._segment == current_first else self._wal._final_size(self._segment)
            if self._offset + _HEADER.size <= end:
                entry = self._read_record(end)
                if entry is None:
                    logger.error("wal: unreadable record segment=%d offset=%d", self._segment, self._offset)
                    return entries
                if entry.lsn > self._after:
                    entries.append(entry)
                    budget -= len(entry.payload)
                    self._after = entry.lsn
                continue
            if self._segment == current_first or not self._open(self._later_segment()):
                return entries
        return entries

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _read_record(self, end: int) -> WalEntry | None:
        header = os.pread(self._fd, _HEADER.size, self._offset)
        if len(header) < _HEADER.size:
            return None
        crc, lsn, kind, project_len, payload_len = _HEADER.unpack(header)
        start = self._offset + _HEADER.size
        if start + project_len + payload_len > end or kind not in PayloadKind._value2member_map_:
            return None
        project = os.pread(self._fd, project_len, start)
        payload = os.pread(self._fd, payload_len, start + project_len)
        if len(project) + len(payload) != project_len + payload_len:
            return None
        if zlib.crc32(payload, zlib.crc32(project, zlib.crc32(header[4:]))) != crc:
            return None
        self._offset = start + project_len + payload_len
        return WalEntry(lsn, PayloadKind(kind), project.decode(), payload)

    def _first_segment(self) -> int | None:
        """The segment holding the first entry after `_after`."""
        segments = [first for first, _ in self._wal._segments()]
        candidates = [first for first in segments if first <= self._after + 1]
        return candidates[-1] if candidates else segments[0] if segments else None

    def _later_segment(self) -> int | None:
        later = [first for first, _ in self._wal._segments() if first > self._segment]
        return later[0] if later else None

    def _open(self, segment: int | None) -> bool:
        if segment is None:
            return False
        try:
            fd = os.open(self._wal._dir / _segment_name(segment), os.O_RDONLY)
        except FileNotFoundError:
            return False
        self.close()
        self._segment, self._fd, self._offset = segment, fd, 0
        return True
