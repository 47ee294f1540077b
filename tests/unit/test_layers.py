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
# Inside services/app: module -> the sibling modules it must never import. The HTTP conventions are
# the base; the fault switch and readiness build on them; the server assembles all three.
SERVICE_LAYERS = {
    "http_conventions": {"fault_switch", "readiness", "server"},
    "fault_switch": {"readiness", "server"},
    "readiness": {"fault_switch", "server"},
}


def _modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _imports(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _modules(path)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_import(package: str) -> None:
    bad = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in _imports(path) & FORBIDDEN[package]
    }
    assert not bad, sorted(bad)


@pytest.mark.parametrize("module", sorted(SERVICE_LAYERS))
def test_service_modules_build_on_lower_layers_only(module: str) -> None:
    imported = {name.removeprefix("services.app.") for name in _modules(ROOT / "services" / "app" / f"{module}.py")}
    assert not imported & SERVICE_LAYERS[module], sorted(imported & SERVICE_LAYERS[module])


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
