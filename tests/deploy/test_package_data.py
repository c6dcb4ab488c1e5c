"""Every data file a package reads at run time ships in the wheel (non-editable installs: the image)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_SUFFIXES = {".sql", ".proto", ".json", ".lua", ".html", ".js", ".css", ".svg"}


def test_package_data_globs_cover_every_data_file() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    missing = []
    for package, directory in tool["package-dir"].items():
        if package == "prela":
            continue
        globs = tool["package-data"].get(package, [])
        for path in (ROOT / directory).rglob("*"):
            relative = path.relative_to(ROOT / directory).as_posix()
            if path.suffix not in DATA_SUFFIXES or "__pycache__" in relative:
                continue
            if not any(fnmatch(relative, g) and relative.count("/") == g.count("/") for g in globs):
                missing.append(f"{package}: {relative}")
    assert missing == []
