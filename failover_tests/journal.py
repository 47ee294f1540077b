"""The fault journal: every applied fault is written here before it takes effect, removed once reverted.

One JSON file per stack in the state folder, rewritten atomically under a file lock (several
runs, or a run and `stackdrill reap`, may write one journal at once). A run that dies leaves its
entries behind; `stackdrill reap` (and the start of every run) reverts them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from infra.host import state_dir


@dataclass(frozen=True)
class Entry:
    """One applied (or being applied) fault, with what its revert needs."""

    id: str
    fault: str
    selector: str
    targets: list[str]
    params: dict[str, Any]
    saved: dict[str, Any] = field(default_factory=dict)
    pid: int = 0
    applied_at: float = 0.0


class Journal:
    """The journal of one stack."""

    def __init__(self, stack: str, root: Path | None = None) -> None:
        self.stack = stack
        self.path = (root or state_dir() / "journal") / f"{stack}.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Between processes (flock) and between threads (each holds its own descriptor).
        self._lock = FileLock(self.path.with_suffix(".lock"), timeout=30)

    def _read(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            return dict(json.loads(self.path.read_text() or "{}"))
        except json.JSONDecodeError:
            broken = self.path.with_suffix(".corrupt")
            self.path.rename(broken)
            return {}

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(self.path)

    def record(self, entry: Entry) -> None:
        """Write an entry (before the fault takes effect)."""
        with self._lock:
            data = self._read()
            data[entry.id] = asdict(entry)
            self._write(data)

    def remove(self, entry_id: str) -> None:
        """Drop an entry once its fault is reverted."""
        with self._lock:
            data = self._read()
            if data.pop(entry_id, None) is not None:
                self._write(data)

    def entries(self) -> list[Entry]:
        """Every entry still in the journal, oldest first."""
        with self._lock:
            data = self._read()
        return sorted((Entry(**v) for v in data.values()), key=lambda e: e.applied_at)
