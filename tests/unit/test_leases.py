"""Stack leases: TTL parsing, what is reapable and why (no Docker)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from infra import leases, orphans
from infra.errors import ScenarioError


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800.0), ("2h", 7200.0), ("90s", 90.0), ("45", 45.0), ("1d", 86400.0), ("none", None)]
)
def test_ttl_parses(text: str, seconds: float | None) -> None:
    assert leases.parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["-5m", "soon", "3 weeks", "0.0m"])
def test_a_bad_ttl_is_one_clear_error(text: str) -> None:
    with pytest.raises(ScenarioError, match="give a duration like 30m"):
        leases.parse_ttl(text)


def test_a_lease_is_reapable_when_expired_or_orphaned_only(tmp_path: Path) -> None:
    live = leases.grant("live", os.getpid(), 3600, root=tmp_path)
    assert live.why_reapable() == ""
    kept = leases.grant("kept", 0, None, root=tmp_path)
    assert kept.why_reapable() == ""
    expired = leases.grant("old", os.getpid(), 3600, root=tmp_path)
    assert expired.why_reapable(now=time.time() + 3601).startswith("its lease expired at")
    dead = leases.Lease("dead", 2**22 + 12345, time.time(), None)  # above pid_max: no such process
    assert dead.why_reapable() == "its owner (pid 4206649) is gone"
    assert {lease.stack for lease in leases.held(root=tmp_path)} == {"live", "kept", "old"}
    leases.release("old", root=tmp_path)
    assert leases.get("old", root=tmp_path) is None


def test_orphans_include_expired_stacks_and_forget_leases_of_gone_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKDRILL_STATE", str(tmp_path))
    monkeypatch.setattr(leases, "state_dir", lambda: tmp_path)
    label = {"stackdrill.stack": "expiring", "stackdrill.owner_pid": str(os.getpid())}
    live = {"stackdrill.stack": "live", "stackdrill.owner_pid": str(os.getpid())}
    monkeypatch.setattr(orphans.docker_resources, "kit_objects", lambda *a: ([{"Labels": label}, {"Labels": live}], []))
    leases.grant("expiring", os.getpid(), 1, root=tmp_path)
    leases.grant("live", os.getpid(), 3600, root=tmp_path)
    leases.grant("gone", 2**22 + 1, 3600, root=tmp_path)  # its stack no longer exists, its owner neither
    time.sleep(1.1)
    found = orphans.orphaned_stacks()
    assert set(found) == {"expiring"} and found["expiring"].startswith("its lease expired")
    assert leases.get("gone", root=tmp_path) is None and leases.get("live", root=tmp_path) is not None
