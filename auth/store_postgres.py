"""`ProjectStore` on Postgres through an asyncpg pool: the store of the scale-out roles (DATABASE_URL)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

from prela.auth.errors import ProjectNotFound, StoreUnavailable
from prela.auth.records import KeyInfo, Project
from prela.auth.store import DEFAULT_LAST_USED_FLUSH_S, ProjectStore, load_migrations

logger = logging.getLogger(__name__)

T = TypeVar("T")

_KEY_COLUMNS = "id, project_id, name, created_at, last_used, revoked_at"
# One lock id for every process migrating the same database (first 8 bytes of a fixed digest).
_MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"prela.auth migrations").digest()[:8], "big", signed=True)
# Connection-level failures: the database is unreachable, not the request wrong.
_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
)


def normalise_dsn(dsn: str) -> str:
    """asyncpg takes postgres:// and postgresql://; SQLAlchemy-style `postgresql+asyncpg://` is accepted too."""
    scheme, sep, rest = dsn.partition("://")
    base = scheme.split("+", 1)[0]
    if not sep or base not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be a postgres:// or postgresql:// URL, got scheme {scheme!r}")
    return f"{base}://{rest}"


def redacted(dsn: str) -> str:
    """The DSN without credentials, for logs."""
    parts = urlsplit(dsn)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _key(row: Any) -> KeyInfo:
    return KeyInfo(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        created_at=row["created_at"],
        last_used=row["last_used"],
        revoked_at=row["revoked_at"],
    )


class PostgresProjectStore(ProjectStore):
    backend = "postgres"

    def __init__(
        self,
        dsn: str,
        last_used_flush_s: float = DEFAULT_LAST_USED_FLUSH_S,
        min_connections: int = 1,
        max_connections: int = 5,
    ) -> None:
        super().__init__(last_used_flush_s)
        self._dsn = normalise_dsn(dsn)
        self._min, self._max = min_connections, max_connections
        self._pool: asyncpg.Pool | None = None

    @property
    def target(self) -> str:
        return redacted(self._dsn)

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        if self._pool is None:
            raise RuntimeError("PostgresProjectStore is not started: call start() first")
        try:
            async with self._pool.acquire(timeout=10) as conn:
                return await fn(conn)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"postgres store {self.target} is unreachable: {exc}") from exc

    async def _open(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min, max_size=self._max, command_timeout=10, timeout=10
            )
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"postgres store {self.target} is unreachable: {exc}") from exc
        await self._run(self._migrate)
        logger.info("auth store ready backend=postgres target=%s", self.target)

    @staticmethod
    async def _migrate(conn: asyncpg.Connection) -> None:
        version_table, migrations = load_migrations("postgres")
        async with conn.transaction():
            # Serialises concurrent starts (N replicas): the second waits, then finds nothing to do.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(version_table)
            applied = {
                r["version"] for r in await conn.fetch("SELECT version FROM prela_auth_schema_version")
            }
            for migration in migrations:
                if migration.version in applied:
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO prela_auth_schema_version (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
                logger.info("auth migration applied version=%d name=%s", migration.version, migration.name)

    async def _close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def ping(self) -> bool:
        try:
            return bool(await self._run(lambda c: c.fetchval("SELECT 1")) == 1)
        except (StoreUnavailable, RuntimeError):
            return False

    async def _insert_project(self, project: Project) -> bool:
        status = await self._run(
            lambda c: c.execute(
                "INSERT INTO prela_projects (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                project.id,
                project.name,
                project.created_at,
            )
        )
        return bool(status == "INSERT 0 1")

    async def _select_projects(self) -> list[Project]:
        rows = await self._run(
            lambda c: c.fetch("SELECT id, name, created_at FROM prela_projects ORDER BY created_at, id")
        )
        return [Project(r["id"], r["name"], r["created_at"]) for r in rows]

    async def _select_project(self, project_id: str) -> Project | None:
        row = await self._run(
            lambda c: c.fetchrow("SELECT id, name, created_at FROM prela_projects WHERE id = $1", project_id)
        )
        return Project(row["id"], row["name"], row["created_at"]) if row else None

    async def _insert_key(self, info: KeyInfo, key_hash: bytes) -> None:
        try:
            await self._run(
                lambda c: c.execute(
                    "INSERT INTO prela_api_keys (id, project_id, name, key_hash, created_at) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    info.id,
                    info.project_id,
                    info.name,
                    key_hash,
                    info.created_at,
                )
            )
        except asyncpg.ForeignKeyViolationError:
            raise ProjectNotFound(f"project {info.project_id!r} does not exist") from None

    async def _select_keys(self, project_id: str) -> list[KeyInfo]:
        rows = await self._run(
            lambda c: c.fetch(
                f"SELECT {_KEY_COLUMNS} FROM prela_api_keys WHERE project_id = $1 ORDER BY created_at, id",
                project_id,
            )
        )
        return [_key(r) for r in rows]

    async def _select_key(self, key_id: str) -> KeyInfo | None:
        row = await self._run(
            lambda c: c.fetchrow(f"SELECT {_KEY_COLUMNS} FROM prela_api_keys WHERE id = $1", key_id)
        )
        return _key(row) if row else None

    async def _select_key_by_hash(self, key_hash: bytes) -> tuple[KeyInfo, bytes] | None:
        row = await self._run(
            lambda c: c.fetchrow(
                f"SELECT {_KEY_COLUMNS}, key_hash FROM prela_api_keys WHERE key_hash = $1", key_hash
            )
        )
        return (_key(row), bytes(row["key_hash"])) if row else None

    async def _update_revoked(self, key_id: str, project_id: str | None, at: datetime) -> KeyInfo | None:
        row = await self._run(
            lambda c: c.fetchrow(
                "UPDATE prela_api_keys SET revoked_at = COALESCE(revoked_at, $1) "
                f"WHERE id = $2 AND ($3::text IS NULL OR project_id = $3) RETURNING {_KEY_COLUMNS}",
                at,
                key_id,
                project_id,
            )
        )
        return _key(row) if row else None

    async def _update_last_used(self, uses: list[tuple[str, datetime]]) -> None:
        ids = [key_id for key_id, _ in uses]
        times = [at for _, at in uses]
        await self._run(
            lambda c: c.execute(
                "UPDATE prela_api_keys AS k SET last_used = u.at "
                "FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) "
                "WHERE k.id = u.id AND (k.last_used IS NULL OR k.last_used < u.at)",
                ids,
                times,
            )
        )
