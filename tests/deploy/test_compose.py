"""deploy/compose.yaml checked against the roles' own declarations in server/settings.py:
the variables each role requires, the CLI commands, the ports, the ClickHouse version."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from prela.exporters.clickhouse_version import MIN_CLICKHOUSE_VERSION, parse_version
from prela.server.cli import cli
from prela.server.runtime import role_listeners
from prela.server.settings import ROLE_REQUIRED, Settings, env_name

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "deploy" / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PRELA_SERVICES = {
    name: service
    for name, service in SERVICES.items()
    if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
}
KNOWN_VARIABLES = {env_name(field) for field in Settings.model_fields}


def role_settings(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the role reads inside its container: the service's environment only."""
    for name in KNOWN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in service["environment"].items():
        monkeypatch.setenv(name, str(value))
    return Settings()


def test_compose_runs_every_scale_out_role() -> None:
    roles = sorted(service["command"][0] for service in PRELA_SERVICES.values())
    assert roles == ["collector", "migrate", "query", "writer"]


@pytest.mark.parametrize("name", sorted(PRELA_SERVICES))
def test_each_service_runs_a_prela_command(name: str) -> None:
    role, *_ = PRELA_SERVICES[name]["command"]
    assert role in cli.commands and role in ROLE_REQUIRED


@pytest.mark.parametrize("name", sorted(PRELA_SERVICES))
def test_each_service_has_the_variables_its_role_requires(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    service = PRELA_SERVICES[name]
    settings = role_settings(service, monkeypatch)
    settings.require(service["command"][0])  # the roles' own start-up check


@pytest.mark.parametrize("name", sorted(PRELA_SERVICES))
def test_each_service_sets_only_variables_prela_reads(name: str) -> None:
    assert set(PRELA_SERVICES[name]["environment"]) - KNOWN_VARIABLES == set()


@pytest.mark.parametrize("name", sorted(PRELA_SERVICES))
def test_published_ports_are_the_roles_listeners_at_their_defaults(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = PRELA_SERVICES[name]
    role = service["command"][0]
    listening = {listener.port for listener in role_listeners(role_settings(service, monkeypatch), role)}
    defaults = {listener.port for listener in role_listeners(Settings.model_construct(), role)}
    published = [tuple(int(p) for p in mapping.split(":")) for mapping in service.get("ports", [])]
    assert all(host == container and container in listening & defaults for host, container in published)


def test_the_ingest_and_query_ports_are_published() -> None:
    assert PRELA_SERVICES["collector"]["ports"] == ["4317:4317", "4318:4318"]
    assert PRELA_SERVICES["query"]["ports"] == ["8000:8000"]


@pytest.mark.parametrize("name", sorted(PRELA_SERVICES))
def test_each_service_has_time_to_drain_before_it_is_killed(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = PRELA_SERVICES[name]
    grace = re.fullmatch(r"(\d+)s", service["stop_grace_period"])
    assert grace is not None
    assert int(grace.group(1)) > role_settings(service, monkeypatch).drain_timeout_s + 10


def test_the_clickhouse_server_is_at_least_the_minimum_version() -> None:
    image, _, tag = SERVICES["clickhouse"]["image"].partition(":")
    assert image == "clickhouse/clickhouse-server"
    assert parse_version(tag) >= MIN_CLICKHOUSE_VERSION


def test_services_that_need_clickhouse_start_after_the_schema_is_applied() -> None:
    assert SERVICES["migrate"]["depends_on"]["clickhouse"] == {"condition": "service_healthy"}
    for name in ("writer", "query"):
        assert PRELA_SERVICES[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
