"""Stack leases: who owns a stack and until when it may live (like testcontainers' reaper).

One small JSON file per stack in the state folder, written under a file lock when the stack
comes up and removed when it goes down. `infra.orphans` removes a stack whose lease expired or
whose owner process is gone; a stack with a living owner inside its TTL is never touched.
Stacks of `stackdrill up` have no owner (pid 0) and live until `down` or their `--ttl`.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock

from infra.errors import ScenarioError
from infra.host import pid_alive, state_dir

# A stack a drill makes lives at most this long (a pipeline job is killed well before).
DRILL_TTL_S = 3 * 3600.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_ttl(text: str) -> float | None:
    """Seconds of `30m`, `2h`, `90s`, `1d` (or a bare number of seconds); None for `0`/`none`."""
    raw = text.strip().lower()
    if raw in ("", "0", "none", "never"):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", raw)
    if not match or float(match.group(1)) <= 0:
        raise ScenarioError(f"--ttl {text!r}: give a duration like 30m, 2h or 90s (or none)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class Lease:
    """A stack's owner (pid, 0: nobody) and expiry (epoch seconds, None: never)."""

    stack: str
    owner_pid: int
    created_at: float
    expires_at: float | None

    def expired(self, now: float | None = None) -> bool:
        """Past its TTL."""
        return self.expires_at is not None and (now or time.time()) >= self.expires_at

    def orphaned(self) -> bool:
        """Its owning process is gone."""
        return self.owner_pid != 0 and not pid_alive(self.owner_pid)

    def why_reapable(self, now: float | None = None) -> str:
        """Why this stack may be removed ("" when it may not)."""
        if self.expired(now):
            return f"its lease expired at {time.strftime('%H:%M:%S', time.localtime(self.expires_at))}"
        if self.orphaned():
            return f"its owner (pid {self.owner_pid}) is gone"
        return ""


def _dir(root: Path | None) -> Path:
    path = (root or state_dir()) / "leases"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _lock(root: Path | None) -> FileLock:
    return FileLock(_dir(root) / ".lock", timeout=30)


def grant(stack: str, owner_pid: int, ttl_s: float | None, *, root: Path | None = None) -> Lease:
    """Record (or renew) the lease of a stack that is coming up."""
    now = time.time()
    lease = Lease(stack, owner_pid, now, None if ttl_s is None else now + ttl_s)
    with _lock(root):
        (_dir(root) / f"{stack}.json").write_text(json.dumps(asdict(lease)))
    return lease


def release(stack: str, *, root: Path | None = None) -> None:
    """Forget the lease of a stack that is gone."""
    with _lock(root):
        (_dir(root) / f"{stack}.json").unlink(missing_ok=True)


def get(stack: str, *, root: Path | None = None) -> Lease | None:
    """The lease of one stack, if any."""
    return next((lease for lease in held(root=root) if lease.stack == stack), None)


def held(*, root: Path | None = None) -> list[Lease]:
    """Every lease on record (unreadable files are skipped)."""
    out = []
    with _lock(root):
        for path in sorted(_dir(root).glob("*.json")):
            try:
                out.append(Lease(**json.loads(path.read_text())))
            except (ValueError, TypeError):
                continue
    return out
