"""The Automation API reads outputs and history back after `up` through two methods
of the stack object; `infra.lifecycle._skip_readback` overrides them. If a new SDK reads them
another way, the override silently stops saving time: these tests say so."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from pulumi import automation as auto

from infra.lifecycle import _skip_readback, pulumi_command
from infra.toolchain import built_pulumi_binary, pulumi_version


def test_up_reads_outputs_and_summary_through_the_stack_methods() -> None:
    source = inspect.getsource(auto.Stack.up)
    assert "self.outputs()" in source
    assert "self.info(" in source


def test_the_override_answers_without_running_the_cli() -> None:
    stack = object.__new__(auto.Stack)  # no workspace: calling the real methods would fail
    _skip_readback(stack)
    assert stack.outputs() == {}
    assert stack.info(True) is not None


def test_the_cli_set_up_built_is_not_asked_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKDRILL_CACHE", str(tmp_path))
    binary = built_pulumi_binary()  # no file there: running it would fail
    command = pulumi_command(binary)
    assert command.command == str(binary.resolve())
    assert f"v{command.version}" == pulumi_version()


def test_the_workspace_reads_the_version_only_from_the_command_object() -> None:
    source = inspect.getsource(auto.PulumiCommand.__init__)
    assert "self.command" in source and "self.version" in source  # the two fields _BuiltPulumi sets
    assert "pulumi_command.version" in inspect.getsource(auto.LocalWorkspace)


def test_a_cli_found_elsewhere_is_asked_its_version(tmp_path: Path) -> None:
    binary = tmp_path / "somewhere" / "bin" / "pulumi"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\necho v3.250.1\n")
    binary.chmod(0o755)
    assert str(pulumi_command(binary).version) == "3.250.1"
