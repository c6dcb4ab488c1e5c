"""The store of projects and API keys: one interface, SQLite (`prela serve`) and Postgres backends.

`ProjectStore` holds what both backends share — validation, key generation, the constant-time
check, and the batched `last_used` updates (recorded in memory, written every
`last_used_flush_s` in one statement) — and asks a backend only for rows.
Migrations are `.sql` files in `sql/<dialect>/NNN_name.sql`, applied at `start()` in order,
each once, recorded in `prela_auth_schema_version`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import TracebackType

from prela.auth.errors import MalformedKey, ProjectExists, ProjectNotFound
from prela.auth.keys import generate_key, hash_key, key_matches, new_key_id, parse_key
from prela.auth.records import (
    KeyInfo,
    Project,
    new_project_id,
    validate_name,
    validate_project_id,
)

logger = logging.getLogger(__name__)

SQLITE_FILE = "auth.sqlite3"
DEFAULT_LAST_USED_FLUSH_S = 10.0


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> tuple[str, list[Migration]]:
    """(the schema-version DDL, the numbered migrations in order) of `dialect` (postgres | sqlite)."""
    folder = resources.files("prela.auth") / "sql" / dialect
    version_table = (folder / "schema_version.sql").read_text()
    migrations = []
    for entry in folder.iterdir():
        stem = entry.name.removesuffix(".sql")
        number, _, name = stem.partition("_")
        if entry.name.endswith(".sql") and number.isdigit():
            migrations.append(Migration(int(number), name, entry.read_text()))
    migrations.sort(key=lambda m: m.version)
    return version_table, migrations


def utc_now() -> datetime:
    return datetime.now(UTC)


class ProjectStore(ABC):
    """Projects and API keys. Call `start()` (migrations, connections) before use, `close()` after.

    Every method is async except `touch_last_used`, which only records in memory.
    """

    backend: str = "?"

    def __init__(self, last_used_flush_s: float = DEFAULT_LAST_USED_FLUSH_S) -> None:
        if last_used_flush_s <= 0:
            raise ValueError(f"last_used_flush_s must be > 0, got {last_used_flush_s!r}")
        self._flush_interval = last_used_flush_s
        self._last_used: dict[str, datetime] = {}
        self._flusher: asyncio.Task[None] | None = None

    # lifecycle

    async def start(self) -> None:
        """Connect, apply pending migrations, start the `last_used` flusher."""
        await self._open()
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_periodically(), name="prela-auth-last-used")

    async def close(self) -> None:
        """Write pending `last_used` times and disconnect."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        try:
            await self.flush_last_used()
        except Exception as exc:  # a store going away at shutdown must not hide the shutdown
            logger.warning("last_used flush at close failed error=%r", str(exc)[:200])
        await self._close()

    async def __aenter__(self) -> ProjectStore:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # projects

    async def create_project(self, name: str, project_id: str | None = None) -> Project:
        """A new project; `ProjectExists` if the id is taken, `InvalidProjectId` / `InvalidName` on bad input."""
        project = Project(
            id=validate_project_id(project_id) if project_id is not None else new_project_id(),
            name=validate_name("project", name),
            created_at=utc_now(),
        )
        if not await self._insert_project(project):
            raise ProjectExists(f"project {project.id!r} already exists")
        return project

    async def list_projects(self) -> list[Project]:
        return await self._select_projects()

    async def get_project(self, project_id: str) -> Project | None:
        return await self._select_project(validate_project_id(project_id))

    # keys

    async def create_key(self, project_id: str, name: str = "default") -> tuple[str, KeyInfo]:
        """(the plaintext key — show it once, it is not stored —, its metadata)."""
        validate_project_id(project_id)
        name = validate_name("key", name)
        if await self._select_project(project_id) is None:
            raise ProjectNotFound(f"project {project_id!r} does not exist")
        key = generate_key(project_id)
        info = KeyInfo(id=new_key_id(), project_id=project_id, name=name, created_at=utc_now())
        await self._insert_key(info, hash_key(key))
        logger.info("api key created key_id=%s project_id=%s", info.id, project_id)
        return key, info

    async def list_keys(self, project_id: str) -> list[KeyInfo]:
        """Every key of the project, revoked ones included, oldest first; never a secret."""
        return await self._select_keys(validate_project_id(project_id))

    async def get_key(self, key_id: str) -> KeyInfo | None:
        return await self._select_key(key_id)

    async def revoke_key(self, key_id: str, project_id: str | None = None) -> KeyInfo | None:
        """Revoke (idempotent: an already revoked key keeps its first `revoked_at`).

        None when the key is unknown, or belongs to another project than `project_id` when given.
        """
        info = await self._update_revoked(key_id, project_id, utc_now())
        if info is not None:
            self._last_used.pop(key_id, None)
            logger.info("api key revoked key_id=%s project_id=%s", key_id, info.project_id)
        return info

    async def find_key(self, key: str) -> KeyInfo | None:
        """The metadata of `key` — revoked or not —, None when unknown.

        `MalformedKey` for text that is not a key, before any database access.
        """
        parse_key(key)
        found = await self._select_key_by_hash(hash_key(key))
        if found is None:
            return None
        info, stored_hash = found
        # The row was found through the hash index; confirm in constant time anyway, so the
        # decision itself never rests on a variable-time comparison.
        if not key_matches(key, stored_hash):
            return None
        return info

    async def lookup_key(self, key: str) -> KeyInfo | None:
        """The metadata of a usable key: None when malformed, unknown or revoked."""
        try:
            info = await self.find_key(key)
        except MalformedKey:
            return None
        return None if info is None or info.revoked else info

    def touch_last_used(self, key_id: str, at: datetime | None = None) -> None:
        """Record a use in memory; written by the next flush (no write per request)."""
        self._last_used[key_id] = at or utc_now()

    async def flush_last_used(self) -> int:
        """Write the recorded `last_used` times in one statement; the number of keys written."""
        if not self._last_used:
            return 0
        pending, self._last_used = self._last_used, {}
        try:
            await self._update_last_used(sorted(pending.items()))
        except Exception:
            # Keep them for the next flush (newer uses recorded meanwhile win).
            for key_id, at in pending.items():
                self._last_used.setdefault(key_id, at)
            raise
        return len(pending)

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            try:
                await self.flush_last_used()
            except Exception as exc:
                logger.warning("last_used flush failed backend=%s error=%r", self.backend, str(exc)[:200])

    # what a backend provides

    @abstractmethod
    async def ping(self) -> bool:
        """Whether the database answers."""

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _insert_project(self, project: Project) -> bool:
        """False when the id exists."""

    @abstractmethod
    async def _select_projects(self) -> list[Project]: ...

    @abstractmethod
    async def _select_project(self, project_id: str) -> Project | None: ...

    @abstractmethod
    async def _insert_key(self, info: KeyInfo, key_hash: bytes) -> None: ...

    @abstractmethod
    async def _select_keys(self, project_id: str) -> list[KeyInfo]: ...

    @abstractmethod
    async def _select_key(self, key_id: str) -> KeyInfo | None: ...

    @abstractmethod
    async def _select_key_by_hash(self, key_hash: bytes) -> tuple[KeyInfo, bytes] | None: ...

    @abstractmethod
    async def _update_revoked(self, key_id: str, project_id: str | None, at: datetime) -> KeyInfo | None: ...

    @abstractmethod
    async def _update_last_used(self, uses: list[tuple[str, datetime]]) -> None: ...


def build_store(
    database_url: str | None, data_dir: Path, last_used_flush_s: float = DEFAULT_LAST_USED_FLUSH_S
) -> ProjectStore:
    """Postgres when `database_url` is set (DATABASE_URL), else SQLite in `data_dir`; not started."""
    if database_url:
        from prela.auth.store_postgres import PostgresProjectStore

        return PostgresProjectStore(database_url, last_used_flush_s=last_used_flush_s)
    from prela.auth.store_sqlite import SqliteProjectStore

    return SqliteProjectStore(Path(data_dir) / SQLITE_FILE, last_used_flush_s=last_used_flush_s)


async def open_store(
    database_url: str | None, data_dir: Path, last_used_flush_s: float = DEFAULT_LAST_USED_FLUSH_S
) -> ProjectStore:
    """`build_store` and `start()` it: migrations applied, ready to use. `close()` it at shutdown."""
    store = build_store(database_url, data_dir, last_used_flush_s)
    await store.start()
    return store
