"""Admin commands: `prela projects create|list`, `prela keys create|list|revoke`.

Register them on the `prela` group with `cli.add_command(projects_cli)` and
`cli.add_command(keys_cli)`. Every command takes `--json` (one JSON object on stdout, also for
errors) and the store options: `--database-url` (env DATABASE_URL, Postgres) or else
`--data-dir` (env PRELA_DATA_DIR, SQLite `auth.sqlite3` inside it).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from prela.auth.config import resolve_mode
from prela.auth.errors import (
    InvalidName,
    InvalidProjectId,
    ProjectExists,
    ProjectNotFound,
    StoreUnavailable,
)
from prela.auth.redis_link import RedisLink, connect_redis
from prela.auth.store import ProjectStore, open_store

F = TypeVar("F", bound=Callable[..., Any])

_USER_ERRORS = (InvalidProjectId, InvalidName, ProjectExists, ProjectNotFound, StoreUnavailable, ValueError)


def store_options(command: F) -> F:
    """--data-dir, --database-url and --json, shared by every admin command."""
    command = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(command)
    command = click.option(
        "--database-url",
        envvar="DATABASE_URL",
        default=None,
        show_envvar=True,
        help="Postgres store (wins over --data-dir).",
    )(command)
    command = click.option(
        "--data-dir",
        envvar="PRELA_DATA_DIR",
        default=".prela",
        show_default=True,
        show_envvar=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Data directory of the SQLite store.",
    )(command)
    return command


def _emit(as_json: bool, document: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(document) if as_json else text)


def _run(as_json: bool, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        asyncio.run(work())
    except _USER_ERRORS as exc:
        if as_json:
            click.echo(json.dumps({"error": str(exc)}))
            sys.exit(1)
        raise click.ClickException(str(exc)) from None


async def _with_store(
    data_dir: Path, database_url: str | None, use: Callable[[ProjectStore], Awaitable[None]]
) -> None:
    store = await open_store(database_url or None, data_dir)
    try:
        await use(store)
    finally:
        await store.close()


def _command_body(fn: F) -> F:
    """Turns `async def body(store, **options)` plus the store options into a click callback."""

    @wraps(fn)
    def callback(data_dir: Path, database_url: str | None, as_json: bool, **options: Any) -> None:
        _run(
            as_json, lambda: _with_store(data_dir, database_url, lambda s: fn(s, as_json=as_json, **options))
        )

    return callback  # type: ignore[return-value]


@click.group("projects")
def projects_cli() -> None:
    """Projects: every span and every query belongs to exactly one."""


@projects_cli.command("create")
@click.option(
    "--id", "project_id", default=None, help="Project id (default: proj_<random>); e.g. a Clerk org id."
)
@click.option("--name", required=True, help="Display name.")
@store_options
@_command_body
async def create_project(store: ProjectStore, *, as_json: bool, project_id: str | None, name: str) -> None:
    """Create a project. Its id is the `pk_<project_id>_…` prefix of its keys."""
    project = await store.create_project(name, project_id=project_id)
    _emit(as_json, project.to_dict(), f"created project {project.id} ({project.name})")


@projects_cli.command("list")
@click.option(
    "--auth",
    envvar="PRELA_AUTH",
    type=click.Choice(["required", "off"]),
    default=None,
    show_envvar=True,
    help="Auth mode of the server [default: required with DATABASE_URL, else off].",
)
@click.option(
    "--default-project",
    envvar="PRELA_PROJECT_ID",
    default="default",
    show_default=True,
    show_envvar=True,
    help="The project of every span and query while auth is off.",
)
@store_options
@_command_body
async def list_projects(
    store: ProjectStore, *, as_json: bool, auth: str | None, default_project: str
) -> None:
    """List the projects. With auth off, the default project holds everything and is listed too."""
    projects = [p.to_dict() for p in await store.list_projects()]
    if resolve_mode(auth, postgres=store.backend == "postgres") == "off":
        # Everything is stored under the default project, whether or not it was ever created.
        if all(p["id"] != default_project for p in projects):
            projects.insert(0, {"id": default_project, "name": default_project, "created_at": None})
        note = (
            f"auth is off: every span and query belongs to project {default_project!r} "
            "(PRELA_AUTH=required turns on keys and the other projects)"
        )
        if as_json:
            _emit(True, {"projects": projects, "auth": "off", "note": note}, "")
            return
        click.echo(f"note: {note}", err=True)
    lines = [f"{p['id']}\t{p['name']}\t{p['created_at'] or '-'}" for p in projects] or ["(no projects)"]
    _emit(as_json, {"projects": projects}, "\n".join(lines))


@click.group("keys")
def keys_cli() -> None:
    """API keys (pk_<project_id>_<secret>): shown once at creation, stored hashed."""


@keys_cli.command("create")
@click.option("--project", "project_id", required=True, help="Project id.")
@click.option("--name", default="default", show_default=True, help="Key name, e.g. production.")
@store_options
@_command_body
async def create_key(store: ProjectStore, *, as_json: bool, project_id: str, name: str) -> None:
    """Create an API key for a project and print it once."""
    key, info = await store.create_key(project_id, name)
    if as_json:
        _emit(True, {"key": key, **info.to_dict()}, "")
        return
    click.echo(key)
    click.echo(
        f"created {info.id} ({info.name}) for project {info.project_id}; "
        "store the key now, it cannot be shown again",
        err=True,
    )


@keys_cli.command("list")
@click.option("--project", "project_id", required=True, help="Project id.")
@store_options
@_command_body
async def list_keys(store: ProjectStore, *, as_json: bool, project_id: str) -> None:
    """List a project's keys (ids, names, dates; never the secrets)."""
    keys = await store.list_keys(project_id)
    lines = [
        f"{k.id}\t{k.name}\tcreated {d['created_at']}\tlast used {d['last_used'] or '-'}"
        + (f"\trevoked {d['revoked_at']}" if k.revoked else "")
        for k, d in ((k, k.to_dict()) for k in keys)
    ] or [f"(no keys in project {project_id})"]
    _emit(as_json, {"keys": [k.to_dict() for k in keys]}, "\n".join(lines))


@keys_cli.command("revoke")
@click.argument("key_id")
@click.option(
    "--redis-url",
    envvar="REDIS_URL",
    default=None,
    show_envvar=True,
    help="Also drop the key from the shared cache, so it fails at once (else within 30 s).",
)
@store_options
@_command_body
async def revoke_key(store: ProjectStore, *, as_json: bool, key_id: str, redis_url: str | None) -> None:
    """Revoke a key by its id (key_…). It fails at once here and within 30 s everywhere."""
    info = await store.revoke_key(key_id)
    if info is None:
        raise ValueError(f"no key {key_id!r}")
    if redis_url:
        from prela.auth.ingest import IngestAuthenticator

        link = RedisLink(connect_redis(redis_url))
        try:
            await IngestAuthenticator(store, redis=link).forget_key(key_id)
        finally:
            await link.client.aclose()
    _emit(
        as_json,
        info.to_dict(),
        f"revoked {info.id} of project {info.project_id} at {info.to_dict()['revoked_at']}",
    )
