"""`stackdrill down` runs the CLI's `destroy --remove` itself, without the Automation API.

The live teardown (every integration test's stack, `test_lifecycle.py`) proves the command works
against the real engine; these tests pin what it is made of and what a failure says.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra import teardown
from infra.errors import StackError

ROOT = Path(__file__).resolve().parents[2]


def _fake_pulumi(tmp_path: Path, script: str) -> Path:
    binary = tmp_path / "bin" / "pulumi"
    binary.parent.mkdir(parents=True)
    binary.write_text(f"#!/bin/sh\n{script}\n")
    binary.chmod(0o755)
    return binary


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STACKDRILL_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("STACKDRILL_NO_WARM_HOST", "1")
    return tmp_path / "state"


def test_the_destroy_command_removes_the_stack_in_the_same_call() -> None:
    cmd = teardown.destroy_command("t1", Path("/x/pulumi"))
    assert cmd[:3] == ["/x/pulumi", "--non-interactive", "destroy"]
    for flag in ("--yes", "--skip-preview", "--remove", "--suppress-progress"):
        assert flag in cmd
    assert cmd[cmd.index("--stack") + 1] == "t1"
    assert cmd[cmd.index("--parallel") + 1] == str(teardown.PARALLEL)


def test_the_project_file_is_written_only_when_missing(state: Path) -> None:
    path = teardown.project_file("t1")
    text = path.read_text()
    assert "name: stackdrill\n" in text and "runtime: python\n" in text
    assert f"url: file://{state / 'backend'}\n" in text
    path.write_text("name: stackdrill\nruntime: python\n# the Automation API's own\n")
    assert teardown.project_file("t1").read_text().endswith("# the Automation API's own\n")


def test_the_cli_runs_in_the_workspace_with_the_engine_environment(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen"
    binary = _fake_pulumi(tmp_path, f'pwd > {seen}; echo "$PULUMI_HOME $PULUMI_CONFIG_PASSPHRASE $*" >> {seen}')
    monkeypatch.setattr(teardown, "pulumi_binary", lambda: binary)
    teardown.pulumi_destroy("t1")
    where, env_and_args = seen.read_text().splitlines()
    assert where == str(state / "workspaces" / "t1")
    assert env_and_args.startswith(f"{state / 'pulumi-home'} stackdrill-throwaway --non-interactive destroy")


def test_a_failed_destroy_says_why_in_one_line(state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _fake_pulumi(tmp_path, "echo 'error: the stack is locked'; exit 255")
    monkeypatch.setattr(teardown, "pulumi_binary", lambda: binary)
    with pytest.raises(StackError, match=r"pulumi destroy of t1 failed \(255\): error: the stack is locked"):
        teardown.pulumi_destroy("t1")


def test_a_missing_cli_is_named_with_the_fix(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(teardown, "pulumi_binary", lambda: None)
    with pytest.raises(StackError, match="make setup"):
        teardown.pulumi_destroy("t1")


def test_destroy_forgets_a_removed_stack_on_disk(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    swept: list[str] = []
    monkeypatch.setattr(teardown, "sweep_until_gone", swept.append)
    root = state / "backend" / ".pulumi"
    leftovers = [root / "backups" / "stackdrill" / "t1" / "a.json", root / "history" / "stackdrill" / "t1" / "h.json"]
    for path in [*leftovers, root / "stacks" / "stackdrill" / "t1.json.bak", state / "workspaces" / "t1" / "x"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    teardown.destroy("t1")  # not in the backend (no t1.json): no engine call, only the sweep
    assert swept == ["t1"]
    assert not any(p.exists() for p in leftovers)
    assert not (root / "stacks" / "stackdrill" / "t1.json.bak").exists()
    assert not (state / "workspaces" / "t1").exists()


def test_the_down_command_path_imports_no_pulumi_sdk() -> None:
    probe = (
        "import sys, stackdrill.cli\nfrom infra import provider_host, teardown\n"
        "print(' '.join(m for m in ('pulumi', 'pulumi.automation', 'infra.lifecycle', 'pydantic') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_a_new_stack_is_recorded_without_the_cli_once_the_backend_is_laid_out(state: Path) -> None:
    """`pulumi stack init` costs 0.35-0.43 s per drill; the record it writes is written here instead."""
    assert teardown.init_in_backend("t1") is False  # a fresh backend: the CLI lays it out first
    assert not teardown.in_backend("t1")
    meta = teardown.backend_dir() / ".pulumi" / "meta.yaml"
    meta.parent.mkdir(parents=True)
    meta.write_text("version: 1\n")
    assert teardown.init_in_backend("t1") is True and teardown.in_backend("t1")
    record = json.loads(teardown.state_file("t1").read_text())
    assert record == {"version": 3, "checkpoint": {"stack": "organization/stackdrill/t1"}}
    assert [p.name for p in teardown.state_file("t1").parent.iterdir()] == ["t1.json"]  # no temp file left


def test_recording_a_stack_never_overwrites_one_that_exists(state: Path) -> None:
    meta = teardown.backend_dir() / ".pulumi" / "meta.yaml"
    meta.parent.mkdir(parents=True)
    meta.write_text("version: 1\n")
    path = teardown.state_file("t1")
    path.parent.mkdir(parents=True)
    path.write_text('{"deployed": "state"}')
    assert teardown.init_in_backend("t1") is True
    assert path.read_text() == '{"deployed": "state"}'
