"""`ProjectStore` on SQLite (stdlib `sqlite3`), the store of `prela serve` in its data dir.

One connection, used from one worker thread (a single-thread executor), so calls are
serialised and never block the event loop. WAL mode and a busy timeout let the admin CLI
write to the same file while the server runs.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from prela.auth.errors import ProjectNotFound, StoreUnavailable
from prela.auth.records import KeyInfo, Project
from prela.auth.store import DEFAULT_LAST_USED_FLUSH_S, ProjectStore, load_migrations, utc_now

T = TypeVar("T")

_KEY_COLUMNS = "id, project_id, name, created_at, last_used, revoked_at"


def _ts(value: datetime) -> str:
    # Fixed width (always microseconds, always +00:00), so text order is time order.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _key(row: tuple[Any, ...]) -> KeyInfo:
    return KeyInfo(
        id=row[0],
        project_id=row[1],
        name=row[2],
        created_at=datetime.fromisoformat(row[3]),
        last_used=_dt(row[4]),
        revoked_at=_dt(row[5]),
    )


def _statements(script: str) -> list[str]:
    """Split a .sql file into statements (`sqlite3.complete_statement` knows where one ends)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip() and not all(
        part.strip().startswith("--") or not part.strip() for part in current.splitlines()
    ):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {current.strip()[:80]!r}")
    return statements


class SqliteProjectStore(ProjectStore):
    backend = "sqlite"

    def __init__(self, path: Path | str, last_used_flush_s: float = DEFAULT_LAST_USED_FLUSH_S) -> None:
        super().__init__(last_used_flush_s)
        self.path = Path(path)
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._executor is None or self._db is None:
            raise RuntimeError("SqliteProjectStore is not started: call start() first")
        db = self._db
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, db)
        except sqlite3.OperationalError as exc:  # locked, disk I/O, unreadable file
            raise StoreUnavailable(f"sqlite store {self.path} failed: {exc}") from exc

    async def _open(self) -> None:
        if self._db is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prela-auth-sqlite")

        def connect() -> sqlite3.Connection:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE … COMMIT).
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=5000")
            return db

        self._db = await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        await self._run(self._migrate)

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version_table, migrations = load_migrations("sqlite")
        db.execute("BEGIN IMMEDIATE")  # the write lock: two processes starting together apply once
        try:
            for statement in _statements(version_table):
                db.execute(statement)
            applied = {row[0] for row in db.execute("SELECT version FROM prela_auth_schema_version")}
            for migration in migrations:
                if migration.version in applied:
                    continue
                for statement in _statements(migration.sql):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO prela_auth_schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, _ts(utc_now())),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def _close(self) -> None:
        if self._db is not None and self._executor is not None:
            db, self._db = self._db, None
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def ping(self) -> bool:
        try:
            return await self._run(lambda db: db.execute("SELECT 1").fetchone() == (1,))
        except (StoreUnavailable, RuntimeError):
            return False

    async def _insert_project(self, project: Project) -> bool:
        def insert(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT INTO prela_projects (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (project.id, project.name, _ts(project.created_at)),
            )
            return cursor.rowcount == 1

        return await self._run(insert)

    async def _select_projects(self) -> list[Project]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT id, name, created_at FROM prela_projects ORDER BY created_at, id"
            ).fetchall()
        )
        return [Project(r[0], r[1], datetime.fromisoformat(r[2])) for r in rows]

    async def _select_project(self, project_id: str) -> Project | None:
        row = await self._run(
            lambda db: db.execute(
                "SELECT id, name, created_at FROM prela_projects WHERE id = ?", (project_id,)
            ).fetchone()
        )
        return Project(row[0], row[1], datetime.fromisoformat(row[2])) if row else None

    async def _insert_key(self, info: KeyInfo, key_hash: bytes) -> None:
        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO prela_api_keys (id, project_id, name, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    (info.id, info.project_id, info.name, key_hash, _ts(info.created_at)),
                )
            except sqlite3.IntegrityError as exc:
                if "FOREIGN KEY" in str(exc):
                    raise ProjectNotFound(f"project {info.project_id!r} does not exist") from None
                raise

        await self._run(insert)

    async def _select_keys(self, project_id: str) -> list[KeyInfo]:
        rows = await self._run(
            lambda db: db.execute(
                f"SELECT {_KEY_COLUMNS} FROM prela_api_keys WHERE project_id = ? ORDER BY created_at, id",
                (project_id,),
            ).fetchall()
        )
        return [_key(r) for r in rows]

    async def _select_key(self, key_id: str) -> KeyInfo | None:
        row = await self._run(
            lambda db: db.execute(
                f"SELECT {_KEY_COLUMNS} FROM prela_api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        )
        return _key(row) if row else None

    async def _select_key_by_hash(self, key_hash: bytes) -> tuple[KeyInfo, bytes] | None:
        row = await self._run(
            lambda db: db.execute(
                f"SELECT {_KEY_COLUMNS}, key_hash FROM prela_api_keys WHERE key_hash = ?", (key_hash,)
            ).fetchone()
        )
        return (_key(row), bytes(row[6])) if row else None

    async def _update_revoked(self, key_id: str, project_id: str | None, at: datetime) -> KeyInfo | None:
        def revoke(db: sqlite3.Connection) -> KeyInfo | None:
            row = db.execute(
                f"UPDATE prela_api_keys SET revoked_at = COALESCE(revoked_at, ?) "
                f"WHERE id = ? AND (? IS NULL OR project_id = ?) RETURNING {_KEY_COLUMNS}",
                (_ts(at), key_id, project_id, project_id),
            ).fetchone()
            return _key(row) if row else None

        return await self._run(revoke)

    async def _update_last_used(self, uses: list[tuple[str, datetime]]) -> None:
        # One statement for every key: the uses travel as one JSON array (UPDATE … FROM, SQLite ≥ 3.33).
        payload = json.dumps([[key_id, _ts(at)] for key_id, at in uses])

        def update(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE prela_api_keys SET last_used = json_extract(u.value, '$[1]') "
                "FROM json_each(?) AS u "
                "WHERE prela_api_keys.id = json_extract(u.value, '$[0]') "
                "AND (prela_api_keys.last_used IS NULL "
                "OR prela_api_keys.last_used < json_extract(u.value, '$[1]'))",
                (payload,),
            )

        await self._run(update)
