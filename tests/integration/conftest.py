"""Integration tests run against real stacks (the plugin's `stack` fixture brings one up per session).

They never skip: `make test` sets Docker up, so an unreachable engine is a failure with its reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
STACKDRILL = str(Path(sys.executable).with_name("stackdrill"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.docker)


def cli(*args: str, env: dict[str, str] | None = None, timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the stackdrill CLI as a user would."""
    return subprocess.run(
        [STACKDRILL, *args], capture_output=True, text=True, timeout=timeout_s, cwd=ROOT,
        env={**os.environ, **(env or {})}, check=False,
    )  # fmt: skip


def complete(edge: str, timeout_s: float = 5) -> requests.Response:
    """POST /v1/complete through an edge."""
    return requests.post(f"{edge}/v1/complete", json={"prompt": "it"}, timeout=timeout_s)


@pytest.fixture
def steady(stack: Any) -> Any:
    """The stack, back to steady state after the test (every container healthy, both edges serving)."""
    yield stack
    stack.wait_steady(timeout_s=90)


def light_drill(name: str, where: str = "") -> str:
    """A light YAML drill for the one-of-everything topology (no replica to lose): 80 ms on the
    API's model edge for 4 s at 10 req/s; every path stays within SLO."""
    return textwrap.dedent(
        f"""
        name: {name}
        description: 80 ms on the API's model edge{where}; everything stays within SLO.
        steady_state_s: 3
        fault: {{name: latency, target: api_model, params: {{latency_ms: 80}}}}
        duration_s: 4
        recovery_s: 4
        traffic: {{rate_per_s: 10, paths: [api.complete, web.home]}}
        slos:
          - {{path: api.complete, min_success: 0.95}}
          - {{path: web.home, min_success: 0.95}}
        """
    )
