"""The pipelines in examples/ci/ parse, and every make target, stackdrill command, option and file
they name exists in the kit."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import typer
import yaml

from stackdrill.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "ci"


def _lines(doc: Any) -> Iterator[str]:
    """Every shell line of a GitHub workflow (`run:`) or a GitLab job (`script:`, `after_script:`)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "run" and isinstance(value, str):
                yield from (line for line in value.splitlines() if line.strip())
            elif key in ("script", "before_script", "after_script") and isinstance(value, list):
                yield from (str(line) for line in value)
            else:
                yield from _lines(value)
    elif isinstance(doc, list):
        for item in doc:
            yield from _lines(item)


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))


def _check_stackdrill(argv: list[str]) -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    name, *rest = argv
    command = root.commands.get(name)
    assert command is not None, f"stackdrill has no command {name!r}"
    known = {opt for p in command.params for opt in getattr(p, "opts", [])}
    for arg in rest:
        if arg.startswith("-"):
            assert arg.split("=")[0] in known, f"stackdrill {name} has no option {arg}"


def _check_line(line: str) -> None:
    argv = shlex.split(line)
    if argv[0] == "make":
        targets = [a for a in argv[1:] if "=" not in a]
        assert set(targets) <= _make_targets(), f"unknown make target in {line!r}"
        for assignment in (a for a in argv[1:] if a.startswith("DRILL_ARGS=")):
            _check_stackdrill(["drill", *shlex.split(assignment.partition("=")[2])])
        assert all(a.partition("=")[0] in {"DRILL_ARGS", "TOPOLOGY"} for a in argv[1:] if "=" in a), line
    elif argv[0].endswith("stackdrill"):
        _check_stackdrill(argv[1:])
    elif argv[:2] == ["git", "fetch"]:
        pass  # the base branch, for `stackdrill compare git:origin/<branch>:...`
    else:
        pytest.fail(f"an example runs something the kit does not provide: {line!r}")


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml", "github-compare.yml"])
def test_pipeline_parses_and_names_only_what_exists(name: str) -> None:
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    lines = list(_lines(doc))
    if name != "github-compare.yml":
        assert any("make drill" in line and "--junit reports/junit.xml" in line for line in lines), lines
    if name != "github-actions.yml":
        # A topology change is compared with the file as it is on the base branch.
        compares = [shlex.split(line) for line in lines if "stackdrill compare" in line]
        assert compares and all(argv[2].startswith("git:origin/") for argv in compares), lines
        assert all("--junit" in argv for argv in compares), lines
    for line in lines:
        _check_line(line)
    text = (EXAMPLES / name).read_text()
    # Files the cache keys hash must exist, or the key never changes.
    for listed in re.findall(r"hashFiles\(([^)]*)\)", text) + re.findall(r"files: \[([^\]]*)\]", text):
        for path in re.findall(r"[\w./-]+\.\w+", listed):
            assert (ROOT / path).is_file(), f"{name} hashes {path}, which does not exist"
    assert "junit.xml" in text and "STACKDRILL_CACHE" in text


def test_the_checker_catches_a_command_that_does_not_exist() -> None:
    with pytest.raises(AssertionError, match="no option --no-such-flag"):
        _check_line('make drill DRILL_ARGS="--no-such-flag"')
    with pytest.raises(AssertionError, match="no command 'launch'"):
        _check_line(".venv/bin/stackdrill launch")
