"""What this host keeps for the kit: its state and cache folders, and which processes live.

A small leaf module (standard library only) that both the stack side (`infra`) and the drill
side (`failover_tests`: journal, reap) use.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """The kit's state folder (Pulumi backend, logs, journals); STACKDRILL_STATE overrides it."""
    path = Path(os.environ.get("STACKDRILL_STATE", ROOT / ".state"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """Cache shared by every clone (built Pulumi CLI, Toxiproxy, wheels, saved images): STACKDRILL_CACHE,
    else the per-user cache. scripts/setup.sh reads the same variables."""
    if os.environ.get("STACKDRILL_CACHE"):
        return Path(os.environ["STACKDRILL_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stackdrill"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
