"""`prela projects …` / `prela keys …` with --json, on SQLite (--data-dir) and Postgres (DATABASE_URL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from prela.auth.cli import keys_cli, projects_cli
from prela.server.cli import cli


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "postgres":
        return {"DATABASE_URL": request.getfixturevalue("pg_database")}
    return {"PRELA_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": "", "PRELA_AUTH": "required"}


def run(env: dict[str, str], group: Any, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(group, [*args, "--json"], env=env, catch_exceptions=False)
    document: dict[str, Any] = json.loads(result.output)  # exactly one JSON object
    document["_exit"] = result.exit_code
    return document


def test_projects_and_keys_round_trip(store_env: dict[str, str]) -> None:
    project = run(store_env, projects_cli, "create", "--id", "proj_abc123", "--name", "Production app")
    assert project["id"] == "proj_abc123" and project["_exit"] == 0
    assert [p["id"] for p in run(store_env, projects_cli, "list")["projects"]] == ["proj_abc123"]

    created = run(store_env, keys_cli, "create", "--project", "proj_abc123", "--name", "ci")
    assert created["key"].startswith("pk_proj_abc123_") and created["id"].startswith("key_")
    assert created["project_id"] == "proj_abc123"

    listed = run(store_env, keys_cli, "list", "--project", "proj_abc123")
    assert [k["id"] for k in listed["keys"]] == [created["id"]]
    assert created["key"] not in json.dumps(listed)

    revoked = run(store_env, keys_cli, "revoke", created["id"])
    assert revoked["revoked"] is True and revoked["_exit"] == 0
    assert run(store_env, keys_cli, "list", "--project", "proj_abc123")["keys"][0]["revoked_at"]


def test_errors_are_one_json_object_and_exit_1(store_env: dict[str, str]) -> None:
    for group, args, message in (
        (keys_cli, ("create", "--project", "proj_missing"), "does not exist"),
        (projects_cli, ("create", "--id", "bad id!", "--name", "x"), "invalid project id"),
        (keys_cli, ("revoke", "key_000000000000"), "no key"),
    ):
        document = run(store_env, group, *args)
        assert document["_exit"] == 1 and message in document["error"]


def test_human_output_prints_the_key_once_on_stdout(tmp_path: Path) -> None:
    env = {"PRELA_DATA_DIR": str(tmp_path), "DATABASE_URL": ""}
    CliRunner().invoke(projects_cli, ["create", "--id", "p1", "--name", "P"], env=env)
    result = CliRunner().invoke(keys_cli, ["create", "--project", "p1"], env=env)
    assert result.exit_code == 0 and result.stdout.strip().startswith("pk_p1_")
    listed = CliRunner().invoke(keys_cli, ["list", "--project", "p1"], env=env)
    assert result.stdout.strip() not in listed.output


def test_data_dir_option_wins_over_the_environment(tmp_path: Path) -> None:
    env = {"PRELA_DATA_DIR": str(tmp_path / "env"), "DATABASE_URL": ""}
    run(env, projects_cli, "create", "--id", "p1", "--name", "P", "--data-dir", str(tmp_path / "flag"))
    assert (tmp_path / "flag" / "auth.sqlite3").exists() and not (tmp_path / "env").exists()


def test_with_auth_off_projects_list_shows_the_default_project(tmp_path: Path) -> None:
    env = {"PRELA_DATA_DIR": str(tmp_path), "DATABASE_URL": "", "PRELA_AUTH": "", "PRELA_PROJECT_ID": ""}
    listed = run(env, projects_cli, "list")
    assert listed["projects"] == [{"id": "default", "name": "default", "created_at": None}]
    assert listed["auth"] == "off" and "every span and query belongs to project 'default'" in listed["note"]

    result = CliRunner().invoke(projects_cli, ["list"], env=env)
    assert result.exit_code == 0
    assert result.stdout == "default\tdefault\t-\n"
    assert "note: auth is off" in result.stderr


def test_with_auth_off_a_created_default_project_is_listed_once(tmp_path: Path) -> None:
    env = {
        "PRELA_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "PRELA_AUTH": "off",
        "PRELA_PROJECT_ID": "acme",
    }
    run(env, projects_cli, "create", "--id", "acme", "--name", "Acme")
    run(env, projects_cli, "create", "--id", "other", "--name", "Other")
    assert [p["id"] for p in run(env, projects_cli, "list")["projects"]] == ["acme", "other"]


def test_every_command_and_group_has_a_description() -> None:
    groups = [cli, projects_cli, keys_cli]
    blank = [
        f"{group.name} {name}"
        for group in groups
        for name, command in group.commands.items()  # type: ignore[attr-defined]
        if not command.get_short_help_str().strip()
    ]
    assert blank == []
