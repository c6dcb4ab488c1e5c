"""deploy/healthcheck.py: the image's HEALTHCHECK finds the role's health endpoint as the role does."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import click
import pytest

from prela.server.cli import cli
from prela.server.runtime import role_listeners
from prela.server.settings import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"
PRELA = ["/opt/prela/bin/python", "/opt/prela/bin/prela"]


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prela_image_healthcheck", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


healthcheck = load_healthcheck()


@pytest.fixture
def image_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The image's environment: PRELA_HOST=0.0.0.0, every port at its default."""
    for name in ("PRELA_OTLP_HTTP_PORT", "PRELA_QUERY_PORT", "PRELA_METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRELA_HOST", "0.0.0.0")
    return Settings()


@pytest.mark.parametrize(
    ("command", "url"),
    [
        ([*PRELA, "serve"], "http://127.0.0.1:4318/health"),
        ([*PRELA, "collector"], "http://127.0.0.1:4318/health"),
        ([*PRELA, "query"], "http://127.0.0.1:8000/api/v1/health"),
        ([*PRELA, "writer"], "http://127.0.0.1:9464/health"),
        ([*PRELA], "http://127.0.0.1:4318/health"),  # the image's CMD
        (["/sbin/docker-init", "--", "prela", "query"], "http://127.0.0.1:8000/api/v1/health"),
        (["python", "-m", "prela.server", "writer"], "http://127.0.0.1:9464/health"),
        (["/bin/sh", "-c", "prela collector --otlp-http-port 8080"], "http://127.0.0.1:8080/health"),
    ],
)
def test_each_role_is_probed_on_its_own_health_endpoint(
    command: list[str], url: str, image_settings: Settings
) -> None:
    assert healthcheck.health_url(command, image_settings) == url


def test_flags_on_the_command_line_win_over_the_environment(image_settings: Settings) -> None:
    assert (
        healthcheck.health_url([*PRELA, "query", "--port", "9000"], image_settings)
        == "http://127.0.0.1:9000/api/v1/health"
    )
    assert (
        healthcheck.health_url(
            [*PRELA, "collector", "--otlp-http-port=8080", "--host", "10.0.0.7"], image_settings
        )
        == "http://10.0.0.7:8080/health"
    )


def test_ports_from_the_environment_are_used(
    monkeypatch: pytest.MonkeyPatch, image_settings: Settings
) -> None:
    monkeypatch.setenv("PRELA_QUERY_PORT", "8100")
    assert healthcheck.health_url([*PRELA, "query"], Settings()) == "http://127.0.0.1:8100/api/v1/health"


def test_one_shot_commands_have_nothing_to_probe(image_settings: Settings) -> None:
    assert healthcheck.health_url([*PRELA, "migrate"], image_settings) is None


def test_an_unknown_role_is_an_error_naming_the_roles(image_settings: Settings) -> None:
    with pytest.raises(
        ValueError, match="unknown prela role 'sever' \\(expected one of collector, query, serve, writer\\)"
    ):
        healthcheck.health_url([*PRELA, "sever"], image_settings)


@pytest.mark.parametrize("role", sorted(healthcheck.HEALTH))
def test_the_probed_port_and_its_flag_are_one_of_the_roles_listeners(role: str) -> None:
    field, flag, _ = healthcheck.HEALTH[role]
    settings = Settings.model_construct()  # every field at its default
    listeners = {(listener.port, listener.flag) for listener in role_listeners(settings, role)}
    assert (getattr(settings, field), flag) in listeners
    options = {
        opt for param in cli.commands[role].params if isinstance(param, click.Option) for opt in param.opts
    }
    assert flag in options and "--host" in options
