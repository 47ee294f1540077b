"""Where a compared topology comes from: a name, a `Pulumi.<name>.yaml` path, or a file at a git revision.

`git:REV:PATH` reads PATH as it is at REV (`git:HEAD~1:Pulumi.default.yaml`, `git:main:Pulumi.mine.yaml`)
with `git show`, in the repository holding the current directory (else the kit's own), so a pull
request is checked against its base without copying files. The file is validated like any topology
and written under the kit's state directory, where a drill can read it by path.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra import topology as topo_mod
from infra.errors import TopologyError
from infra.host import state_dir
from infra.topology import Topology

GIT_PREFIX = "git:"


@dataclass(frozen=True)
class TopologySource:
    """One side of a compare: how the user named it, the file a drill reads, and the topology it holds."""

    spec: str  # as given: `default`, `path/Pulumi.x.yaml`, `git:main:Pulumi.default.yaml`
    path: Path  # a Pulumi.<name>.yaml file on disk
    topology: Topology

    @property
    def label(self) -> str:
        """A short name for tables: the spec, without a directory for plain files."""
        if self.spec.startswith(GIT_PREFIX) or "/" not in self.spec:
            return self.spec
        return Path(self.spec).name


def _git_root(start: Path) -> Path:
    found = subprocess.run(
        ["git", "-C", str(start), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=False
    )
    if found.returncode == 0 and found.stdout.strip():
        return Path(found.stdout.strip())
    return topo_mod.PROJECT_ROOT


def _from_git(spec: str, cwd: Path) -> Path:
    rest = spec[len(GIT_PREFIX) :]
    rev, sep, file = rest.partition(":")
    if not sep or not rev or not file:
        raise TopologyError(
            f"{spec}: write a git revision as git:REV:PATH, "
            "e.g. git:HEAD~1:Pulumi.default.yaml or git:main:Pulumi.x.yaml"
        )
    root = _git_root(cwd)
    shown = subprocess.run(
        ["git", "-C", str(root), "show", f"{rev}:{file.removeprefix('./')}"],
        capture_output=True,
        check=False,
    )
    if shown.returncode != 0:
        why = shown.stderr.decode(errors="replace").strip().splitlines()
        raise TopologyError(f"{spec}: git cannot read it in {root} ({why[-1] if why else 'git show failed'})")
    digest = hashlib.sha256(shown.stdout).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{rev}_{Path(file).stem}")[:60]
    target = state_dir() / "compare" / f"{slug}-{digest}" / Path(file).name
    if not target.name.endswith((".yaml", ".yml")):
        raise TopologyError(f"{spec}: {file} is not a Pulumi.<name>.yaml file")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(shown.stdout)
    return target


def resolve(spec: str, cwd: Path | None = None) -> TopologySource:
    """A compared topology, validated; TopologyError (one line, exit 2) if it cannot be read."""
    if not spec.strip():
        raise TopologyError("an empty topology name: give a name (default), a Pulumi.<name>.yaml path or git:REV:PATH")
    path = _from_git(spec, cwd or Path.cwd()) if spec.startswith(GIT_PREFIX) else topo_mod.resolve_path(spec)
    return TopologySource(spec, path.resolve(), topo_mod.load(str(path)))
