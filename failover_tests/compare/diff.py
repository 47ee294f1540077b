"""What changed between two topologies, before anything runs: the keys, and the single points of failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra import spof
from infra.topology import Topology


@dataclass(frozen=True)
class Change:
    """One key of the topology model whose effective value differs (defaults filled in)."""

    key: str  # dotted: api_lb.health_check.inter_ms
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key}: {_show(self.old)} -> {_show(self.new)}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new}


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return "null" if value is None else str(value)


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out


def topology_diff(base: Topology, candidate: Topology) -> list[Change]:
    """Every key whose effective value differs, in the model's order (data path first)."""
    old, new = _flatten(base.to_dict()), _flatten(candidate.to_dict())
    keys = list(dict.fromkeys([*old, *new]))
    return [Change(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


@dataclass(frozen=True)
class SpofDiff:
    """Single points of failure (of the user's topology, not the kit's instrumentation) on each side."""

    removed: tuple[str, ...]  # in the base only: the candidate removed them
    added: tuple[str, ...]  # in the candidate only: the candidate introduced them
    kept: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"removed": list(self.removed), "added": list(self.added), "kept": list(self.kept)}


def spof_diff(base: Topology, candidate: Topology) -> SpofDiff:
    """The static single points of failure (`stackdrill spof`) each side has and the other has not."""
    old = [str(s) for s in spof.find(base) if not s.instrumentation]
    new = [str(s) for s in spof.find(candidate) if not s.instrumentation]
    return SpofDiff(
        removed=tuple(s for s in old if s not in new),
        added=tuple(s for s in new if s not in old),
        kept=tuple(s for s in old if s in new),
    )
