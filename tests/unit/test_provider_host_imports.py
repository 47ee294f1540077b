"""What the dynamic-provider host imports before its first resource call: nothing the calls do not use.

The engine starts the host cold for a `stackdrill down` of its own, so every import on that path is
paid before the first delete. Each check runs a fresh interpreter: this process has imported more.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from infra import labels
from infra import outputs as O

ROOT = Path(__file__).resolve().parents[2]

# What `_warm` imports once the host listens; unpickling a provider of infra.dynamic imports the same.
HOST_PATH = "from infra.dynamic_host import _warm; _warm()"
NOT_ON_HOST_PATH = ("pydantic", "pydantic_core", "infra.outputs")


def _loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_host_path_imports_no_pydantic() -> None:
    assert _loaded_after(HOST_PATH, NOT_ON_HOST_PATH) == []


def test_the_resource_modules_import_no_pydantic() -> None:
    assert _loaded_after("import infra.docker_resources, infra.dynamic", NOT_ON_HOST_PATH) == []


def test_the_host_path_still_imports_what_the_calls_use() -> None:
    wanted = ("docker", "pulumi.dynamic", "infra.docker_resources", "infra.dynamic")
    assert _loaded_after(HOST_PATH, wanted) == list(wanted)


def test_outputs_re_exports_every_label() -> None:
    names = [n for n in vars(labels) if n.startswith("LABEL_")]
    assert len(names) == 6
    assert {n: getattr(O, n) for n in names} == {n: getattr(labels, n) for n in names}
