"""The stackdrill pytest plugin: options, fixtures, markers and hooks only (the library lives beside it)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the kit's options, each with an ini form."""
    group = parser.getgroup("stackdrill")
    for name, default, help_text in (
        ("topology", "default", "topology name or Pulumi.<name>.yaml path"),
        ("stack-name", "", "stack name (default: drill-<pid>)"),
        ("report-dir", "reports", "where report.json and report.html go"),
        ("seed", "", "seed for random target choice (default: random, reported)"),
    ):
        ini = name.replace("-", "_")
        group.addoption(f"--{name}", dest=f"stackdrill_{ini}", default=None, help=help_text)
        parser.addini(f"stackdrill_{ini}", help_text, default=default)
    group.addoption("--keep-stack", dest="stackdrill_keep_stack", action="store_true", default=None,
                    help="leave the stack up after the session (reused by the next run)")
    parser.addini("stackdrill_keep_stack", "leave the stack up after the session", type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers."""
    config.addinivalue_line("markers", "failover(fault, target, description): failover scenario metadata")
    config.addinivalue_line("markers", "destructive: the scenario breaks containers (selectable with -m)")
    config.addinivalue_line("markers", "docker: needs a live Docker engine")
    config.addinivalue_line("markers", "browser: renders a page in headless Chromium")
