"""The image's build context: .dockerignore read as Docker reads it, and every package of
pyproject.toml in it (a folder left out of the image fails here, without building anything)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.dockerfile_replay import (
    DockerIgnore,
    context_files,
    copy_arguments,
    copy_context,
    missing_packages,
    parse_dockerfile,
)

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "Dockerfile"


@pytest.mark.parametrize(
    ("pattern", "path", "excluded"),
    [
        ("tests", "tests/unit/test_mapping.py", True),  # a directory takes its contents along
        ("tests", "auth/tests.py", False),  # patterns are anchored at the context root
        ("*.egg-info", "prela.egg-info/PKG-INFO", True),
        ("*.egg-info", "sub/prela.egg-info/PKG-INFO", False),  # `*` stays within one segment
        ("**/__pycache__", "exporters/__pycache__/x.pyc", True),
        ("**/__pycache__", "__pycache__/x.pyc", True),  # `**` may be zero directories
        ("**/*.py[co]", "a/b/c.pyc", True),
        ("**/*.py[co]", "a/b/c.py", False),
        ("/bench", "bench/load.py", True),  # a leading slash changes nothing
        ("data?", "data1/x", True),
        ("data?", "data10/x", False),
        (
            "**/node_modules",
            "tests/frameworks/node/node_modules/ai/package.json",
            True,
        ),  # the Node test apps'
    ],
)
def test_dockerignore_patterns_match_as_docker_matches_them(pattern: str, path: str, excluded: bool) -> None:
    assert DockerIgnore(pattern).excluded(path) is excluded


def test_the_last_matching_pattern_wins_and_exceptions_put_files_back() -> None:
    ignore = DockerIgnore("# comment\n\ndocs\n!docs/keep.md\n")
    assert ignore.excluded("docs/drop.md") is True
    assert ignore.excluded("docs/keep.md") is False
    assert DockerIgnore("!docs/keep.md\ndocs").excluded("docs/keep.md") is True


def test_an_excluded_directory_is_not_walked_unless_an_exception_may_reach_into_it(tmp_path: Path) -> None:
    for name in ("docs/a.md", "docs/keep.md", "pkg/__init__.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert context_files(tmp_path, DockerIgnore("docs")) == ["pkg/__init__.py"]
    assert context_files(tmp_path, DockerIgnore("docs\n!docs/keep.md")) == ["docs/keep.md", "pkg/__init__.py"]


def test_the_build_context_holds_every_package_of_pyproject_and_nothing_the_image_does_not_need(
    tmp_path: Path,
) -> None:
    files = copy_context(REPO, tmp_path)
    assert missing_packages(tmp_path, REPO / "pyproject.toml") == []
    tops = {name.split("/")[0] for name in files}
    assert {"pyproject.toml", "README.md", "deploy"} <= tops  # README is the package's readme
    assert not tops & {".git", ".venv", "tests", "bench", ".prela", ".ci", "build"}
    assert not [name for name in files if "__pycache__" in name or name.endswith(".egg-info")]
    assert not [name for name in files if "node_modules" in name.split("/")]


def test_a_package_folder_left_out_of_the_context_is_reported(tmp_path: Path) -> None:
    copy_context(REPO, tmp_path)
    shutil.rmtree(tmp_path / "telemetry")
    assert missing_packages(tmp_path, REPO / "pyproject.toml") == ["prela.telemetry"]


def test_a_dockerignore_that_drops_a_package_folder_fails_the_context_check(tmp_path: Path) -> None:
    source = tmp_path / "repo"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "tests", "bench", "__pycache__"))
    (source / ".dockerignore").write_text((REPO / ".dockerignore").read_text() + "auth\n")
    copy_context(source, tmp_path / "context")
    assert missing_packages(tmp_path / "context", REPO / "pyproject.toml") == ["prela.auth"]


def test_missing_package_data_is_reported(tmp_path: Path) -> None:
    copy_context(REPO, tmp_path)
    for sql in (tmp_path / "exporters" / "sql").glob("*.sql"):
        sql.unlink()
    assert missing_packages(tmp_path, REPO / "pyproject.toml") == ["prela.exporters"]


def test_the_dockerfile_builds_from_the_whole_context_not_a_folder_list() -> None:
    builder, runtime = parse_dockerfile(DOCKERFILE.read_text())
    copies = [copy_arguments(i.arguments) for i in builder.all("COPY")]
    assert copies == [({}, ["."], ".")]
    assert [copy_arguments(i.arguments)[0] for i in runtime.all("COPY")] == [{"from": builder.name}, {}]


def test_the_runtime_image_runs_as_a_user_stops_on_sigterm_and_checks_its_health() -> None:
    builder, runtime = parse_dockerfile(DOCKERFILE.read_text())
    assert builder.name == "builder" and builder.base == runtime.base
    assert [i.arguments for i in runtime.all("USER")] == ["prela"]
    assert [i.arguments for i in runtime.all("STOPSIGNAL")] == ["SIGTERM"]
    [healthcheck] = runtime.all("HEALTHCHECK")
    assert healthcheck.arguments.endswith('CMD ["python", "/opt/prela/healthcheck.py"]')
    # no pip in the runtime stage: everything it runs was built in the builder
    assert not [i for i in runtime.all("RUN") if "pip" in i.arguments]
