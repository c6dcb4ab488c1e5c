"""The minimum ClickHouse server version, checked at start by every role that talks to ClickHouse."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from prela.exporters.clickhouse import close_all, connect
from prela.exporters.clickhouse_version import (
    MIN_CLICKHOUSE_VERSION,
    SCHEMA_FEATURES,
    ClickHouseVersionError,
    check_server_version,
    parse_version,
)
from prela.server.cli import cli
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


class OldServer:
    """A client whose server answers `SELECT version()` with a release older than the minimum."""

    def __init__(self, version: str = "24.8.14.39") -> None:
        self.version = version
        self.commands: list[str] = []

    def command(self, cmd: str) -> str:
        self.commands.append(cmd)
        return self.version


def test_the_minimum_is_the_newest_version_a_schema_feature_needs() -> None:
    assert MIN_CLICKHOUSE_VERSION == (26, 2)
    assert max(since for _, since in SCHEMA_FEATURES) == MIN_CLICKHOUSE_VERSION


def test_versions_compare_as_numbers_not_text() -> None:
    assert parse_version("25.10.1.3832") == (25, 10)
    assert parse_version("26.9.2.1") == (26, 9)
    assert parse_version("25.10.1.3832") < MIN_CLICKHOUSE_VERSION < parse_version("26.10.1.1")


def test_a_version_text_that_is_not_a_version_is_an_error() -> None:
    with pytest.raises(
        ClickHouseVersionError, match="cannot read the ClickHouse server version from 'banana'"
    ):
        parse_version("banana")


def test_the_embedded_engine_is_new_enough(tmp_path: Path) -> None:
    try:  # chDB holds one data dir per process: release it for the next test
        version = check_server_version(connect(f"chdb://{tmp_path / 'ch'}"))
    finally:
        close_all()
    assert parse_version(version) >= MIN_CLICKHOUSE_VERSION


def test_an_old_server_is_refused_with_the_found_and_the_needed_version() -> None:
    server = OldServer("25.8.1.5")
    with pytest.raises(ClickHouseVersionError) as caught:
        check_server_version(server)
    assert server.commands == ["SELECT version()"]
    message = str(caught.value)
    assert message.startswith(
        "ClickHouse server 25.8.1.5 is too old: Prela needs ClickHouse 26.2 or newer for "
    )
    assert "`TYPE text` full-text index" in message
    assert "DateTime64" not in message  # only what the old server lacks is named


@pytest.mark.parametrize(
    ("role", "module", "arguments", "env"),
    [
        ("migrate", "prela.server.scaleout", [], {}),
        ("query", "prela.server.scaleout", ["--port", "0"], {}),
        (
            "writer",
            "prela.server.scaleout",
            ["--metrics-port", "0"],
            {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
        ),
        (
            "serve",
            "prela.server.serve",
            ["--otlp-grpc-port", "0", "--otlp-http-port", "0", "--query-port", "0"],
            {},
        ),
    ],
)
def test_every_role_that_talks_to_clickhouse_stops_with_exit_code_2_on_an_old_server(
    role: str,
    module: str,
    arguments: list[str],
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(f"{module}.connect", lambda dsn: OldServer())
    environment = {
        "CLICKHOUSE_URL": f"http://default:@127.0.0.1:{free_port()}/prela",
        "PRELA_DATA_DIR": str(tmp_path / "data"),
        "PRELA_WORKERS": "1",  # in this process: workers would not see the monkeypatched server
        **env,
    }
    result = CliRunner().invoke(cli, [role, *arguments], env=environment)
    assert result.exit_code == 2, result.output
    assert "Usage:" not in result.output  # not a usage error: one line says what is wrong
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert errors == [
        "Error: ClickHouse server 24.8.14.39 is too old: Prela needs ClickHouse 26.2 or newer for "
        "`TYPE text` full-text index searched with `hasAllTokens`, generally available (no experimental setting) (26.2)"
    ]


def test_the_readme_names_the_minimum_version() -> None:
    assert "ClickHouse 26.2 or newer" in (REPO / "README.md").read_text()
