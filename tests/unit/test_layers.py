"""Imports point one way: stackdrill -> failover_tests -> infra (and services stands alone)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package -> the first-party packages it must never import
FORBIDDEN = {
    "infra": {"failover_tests", "stackdrill"},
    "failover_tests": {"stackdrill"},
    "services": {"infra", "failover_tests", "stackdrill"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_import(package: str) -> None:
    bad = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path) & FORBIDDEN[package]
    }
    assert not bad, sorted(bad)


def test_the_plugin_leaves_the_clis_sigterm_handler_in_place() -> None:
    import signal

    from failover_tests.interrupts import restore_sigterm, sigterm_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assert sigterm_as_interrupt() is True  # the CLI installs it
        installed = signal.getsignal(signal.SIGTERM)
        assert sigterm_as_interrupt() is False  # the in-process plugin must not claim it...
        assert signal.getsignal(signal.SIGTERM) is installed  # ...so it never removes it
        restore_sigterm()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)
