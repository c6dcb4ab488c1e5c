"""Replay a Dockerfile's build without Docker: the build context (honouring .dockerignore), then its
COPY instructions and the RUN lines that make the Python environment (`python -m venv`, `pip install`),
into a directory standing in for the image's file system (container path `/x` → `<root>/x`).

What the replay cannot do as a non-root process without Docker (RUN useradd, mkdir of system
paths) is listed in `Replay.skipped`, never silently dropped.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------- .dockerignore


@dataclass(frozen=True)
class IgnorePattern:
    text: str
    regex: re.Pattern[str]
    exception: bool  # `!pattern`: put back what an earlier pattern left out


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's (moby/patternmatcher) rules: Go's filepath.Match per segment, `**` any number of
    directories; matched against the whole path relative to the context root."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 2
                if pattern[i : i + 1] == "/":
                    i += 1
                out.append(".*" if i >= len(pattern) else "(.*/)?")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise ValueError(f".dockerignore: unterminated character class in {pattern!r}")
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out))


class DockerIgnore:
    """The patterns of a .dockerignore; `excluded(path)` answers as Docker's build context does."""

    def __init__(self, text: str) -> None:
        self.patterns: list[IgnorePattern] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            body = line[1:].strip() if exception else line
            cleaned = posixpath.normpath(body).lstrip("/")
            if cleaned in ("", "."):
                continue
            self.patterns.append(IgnorePattern(line, _pattern_regex(cleaned), exception))

    @property
    def has_exceptions(self) -> bool:
        return any(p.exception for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """`path` is relative to the context root, `/`-separated; a pattern matching one of its
        parent directories matches it too; the last matching pattern decides."""
        parts = path.split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for pattern in self.patterns:
            if any(pattern.regex.match(c) for c in candidates):
                result = not pattern.exception
        return result


def context_files(root: Path, ignore: DockerIgnore) -> list[str]:
    """Every file Docker would send as the build context of `root`, relative and sorted."""
    files: list[str] = []
    for directory, dirnames, filenames in os.walk(root):
        rel_dir = Path(directory).relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        if not ignore.has_exceptions:  # nothing inside an excluded directory can come back
            dirnames[:] = [d for d in dirnames if not ignore.excluded(prefix + d)]
        files += [prefix + name for name in filenames if not ignore.excluded(prefix + name)]
    return sorted(files)


def copy_context(root: Path, destination: Path) -> list[str]:
    """Copy the build context of `root` (its .dockerignore applied) to `destination`."""
    ignore_file = root / ".dockerignore"
    ignore = DockerIgnore(ignore_file.read_text() if ignore_file.exists() else "")
    files = context_files(root, ignore)
    for name in files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target, follow_symlinks=False)
    return files


def missing_packages(context: Path, pyproject: Path) -> list[str]:
    """The import packages of pyproject.toml whose folder (with its `__init__.py`) or package data
    is not in `context`; empty when the context can build every package."""
    tool = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]
    folders: dict[str, str] = tool.get("package-dir", {})
    missing = []
    for package in tool["packages"]:
        folder = folders.get(package, package.replace(".", "/"))
        data = tool.get("package-data", {}).get(package, [])
        if not (context / folder / "__init__.py").is_file() or any(
            not list((context / folder).glob(glob)) for glob in data
        ):
            missing.append(package)
    return missing


# ---------------------------------------------------------------- Dockerfile


@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY …
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages with their instructions (comments dropped, `\\` continuations joined)."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword, arguments = keyword.upper(), arguments.strip()
        if keyword == "FROM":
            words = arguments.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            raise ValueError(f"Dockerfile: {keyword} before the first FROM")
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return stages


def exec_form(arguments: str) -> list[str]:
    """`["a", "b"]` (exec form) or shell words."""
    if arguments.startswith("["):
        return [str(word) for word in json.loads(arguments)]
    return shlex.split(arguments)


def copy_arguments(arguments: str) -> tuple[dict[str, str], list[str], str]:
    """(flags, sources, destination) of a COPY instruction."""
    words = exec_form(arguments)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    return flags, words[:-1], words[-1]


def env_assignments(arguments: str) -> dict[str, str]:
    words = shlex.split(arguments)
    if words and "=" not in words[0]:  # legacy `ENV KEY value with spaces`
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words)


_ABSOLUTE = re.compile(r"(?<![\w.$/-])/(?=[\w.])[^\s'\":]*")
_PYTHON = re.compile(r"(?<![\w./-])python(3(\.\d+)?)?(?=\s)")
_ENV_REFERENCE = re.compile(r"\$\{?(\w+)\}?")
PYTHON_ENVIRONMENT_STEPS = re.compile(r"\bpip\b.*\binstall\b|-m\s+venv\b")


@dataclass
class Replay:
    """The replayed image: `root` stands for `/`; `env` is the last stage's ENV (paths mapped)."""

    root: Path
    env: dict[str, str]
    workdir: Path
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: list[str]
    stop_signal: str | None
    user: str | None
    skipped: list[str]

    def path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def program(self, name: str) -> Path:
        """An executable the image's PATH finds (mapped into `root`)."""
        found = shutil.which(name, path=self.env["PATH"])
        if found is None:
            raise FileNotFoundError(f"{name} is not on the image's PATH {self.env['PATH']}")
        return Path(found)


def replay(dockerfile: Path, context: Path, root: Path, *, base_env: dict[str, str] | None = None) -> Replay:  # noqa: C901 (one branch per Dockerfile instruction)
    """Replay every stage of `dockerfile` with `context` as its build context into `root`."""
    stages = parse_dockerfile(dockerfile.read_text())
    root.mkdir(parents=True, exist_ok=True)
    base = dict(base_env if base_env is not None else os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PIP_USER"):
        base.pop(name, None)  # the test's own environment must not leak into the image's
    skipped: list[str] = []
    stage_paths: dict[int, set[Path]] = {}
    kept: set[Path] = set()

    def mapped(text: str) -> str:
        return _ABSOLUTE.sub(lambda m: str(root / m.group().lstrip("/")), text)

    env: dict[str, str] = {}
    workdir = root
    final: dict[str, list[str]] = {}
    stop_signal = user = None
    for index, stage in enumerate(stages):  # each FROM starts afresh: nothing is inherited between stages
        env, workdir, paths = dict(base), root, stage_paths.setdefault(index, set())
        final = {"ENTRYPOINT": [], "CMD": [], "HEALTHCHECK": []}
        stop_signal = user = None
        for instruction in stage.instructions:
            keyword, arguments = instruction.keyword, instruction.arguments
            if keyword == "ENV":
                for key, value in env_assignments(arguments).items():
                    env[key] = _ENV_REFERENCE.sub(
                        lambda m, known=env: known.get(m.group(1), ""), mapped(value)
                    )
            elif keyword == "WORKDIR":
                container = posixpath.join("/" + workdir.relative_to(root).as_posix(), arguments)
                workdir = root / posixpath.normpath(container).lstrip("/")
                workdir.mkdir(parents=True, exist_ok=True)
                paths.add(workdir)
            elif keyword == "COPY":
                flags, sources, destination = copy_arguments(arguments)
                target = (
                    root / destination.lstrip("/") if destination.startswith("/") else workdir / destination
                )
                if "from" in flags:
                    for source in sources:
                        if root / source.lstrip("/") != target:
                            raise NotImplementedError(
                                f"COPY --from replays only to the same path (a virtualenv's scripts name "
                                f"their interpreter by path): {arguments}"
                            )
                        kept.add(target)
                    continue
                paths.add(target)
                for source in sources:
                    origin = context / source
                    if not origin.exists():
                        raise FileNotFoundError(f"COPY {source}: not in the build context")
                    if origin.is_dir():
                        shutil.copytree(origin, target, dirs_exist_ok=True, symlinks=True)
                    else:
                        into_dir = destination.endswith("/") or len(sources) > 1 or target.is_dir()
                        final_path = target / origin.name if into_dir else target
                        final_path.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(origin, final_path)
            elif keyword == "RUN":
                command = arguments if not arguments.startswith("[") else shlex.join(exec_form(arguments))
                if not PYTHON_ENVIRONMENT_STEPS.search(command):
                    skipped.append(f"RUN {command}")
                    continue
                command = _PYTHON.sub(lambda _: shlex.quote(sys.executable), mapped(command))
                subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=workdir, env=env, check=True)
            elif keyword in ("ENTRYPOINT", "CMD"):
                final[keyword] = exec_form(arguments)
            elif keyword == "HEALTHCHECK":
                _, _, command = arguments.partition(" CMD ")
                final[keyword] = exec_form(command.strip())
            elif keyword == "STOPSIGNAL":
                stop_signal = arguments
            elif keyword == "USER":
                user = arguments
            else:
                skipped.append(f"{keyword} {arguments}")
    # What earlier stages left behind and the last stage did not copy is not in the image.
    for index, paths in stage_paths.items():
        if index == len(stages) - 1:
            continue
        for path in paths:
            if path.exists() and not any(path == k or k.is_relative_to(path) for k in kept):
                shutil.rmtree(path)
    return Replay(
        root,
        env,
        workdir,
        final["ENTRYPOINT"],
        final["CMD"],
        final["HEALTHCHECK"],
        stop_signal,
        user,
        skipped,
    )
