"""The fault life cycle on a fake stack (no Docker): journal first, roll back a partial apply,
revert on every exit path, keep what could not be reverted, revert from another process."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from failover_tests.faults import base
from failover_tests.faults.base import Fault, FaultEnv
from failover_tests.journal import Journal
from failover_tests.targets import Inventory
from infra.errors import FaultError, RevertError
from tests import fakes


class FakeStack:
    """What a container fault sees of a stack: containers with one bit of state each."""

    def __init__(self, names: list[str]) -> None:
        self.faulty = dict.fromkeys(names, False)
        self.calls: list[str] = []
        self.fail_act_on: str | None = None
        self.ignore_act_on: str | None = None  # the action "succeeds" but changes nothing
        self.fail_undo_on: str | None = None


class Toggle(Fault):
    """A fault that flips a container's bit (registered per test only: the catalog stays real)."""

    name = "toggle"
    family = "test"
    summary = "flip a bit"
    mechanism = "in memory"
    fake: ClassVar[FakeStack]

    def save(self, name: str) -> dict[str, Any]:
        return {"was": self.fake.faulty[name]}

    def act(self, name: str) -> None:
        self.fake.calls.append(f"act {name}")
        if name == self.fake.fail_act_on:
            raise RuntimeError(f"engine refused {name}")
        if name != self.fake.ignore_act_on:
            self.fake.faulty[name] = True

    def took_effect(self, name: str) -> bool:
        return self.fake.faulty[name]

    def undo(self, name: str, saved: dict[str, Any]) -> None:
        self.fake.calls.append(f"undo {name}")
        if name == self.fake.fail_undo_on:
            raise RuntimeError(f"engine refused to undo {name}")
        self.fake.faulty[name] = saved["was"]


NAMES = ["sd-t-api-0", "sd-t-api-1", "sd-t-api-2"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FaultEnv:
    # A condition is checked once instead of polled for seconds.
    monkeypatch.setattr(base, "wait_for", lambda check, what, timeout_s=10.0: check())
    monkeypatch.setitem(base.REGISTRY, Toggle.name, Toggle)  # for this test only
    outputs = fakes.outputs(fakes.containers([("api", len(NAMES))]))
    Toggle.fake = FakeStack(NAMES)
    return FaultEnv(stack="t", inventory=Inventory(outputs), toxiproxy_url="", journal=Journal("t", root=tmp_path))


def test_apply_journals_before_acting_and_revert_forgets(env: FaultEnv) -> None:
    fault = Toggle(env, "api")
    with fault:
        assert all(Toggle.fake.faulty.values())
        [entry] = env.journal.entries()
        assert (entry.fault, entry.targets) == ("toggle", NAMES)
    assert not any(Toggle.fake.faulty.values())
    assert env.journal.entries() == []
    assert Toggle.fake.calls[-3:] == [f"undo {n}" for n in reversed(NAMES)]  # last in, first out


def test_a_failed_action_undoes_the_targets_already_reached(env: FaultEnv) -> None:
    Toggle.fake.fail_act_on = "sd-t-api-1"
    with pytest.raises(RuntimeError, match="engine refused"):
        Toggle(env, "api").apply()
    assert not any(Toggle.fake.faulty.values())
    assert "act sd-t-api-2" not in Toggle.fake.calls  # stopped at the failure
    assert {"undo sd-t-api-0", "undo sd-t-api-1"} <= set(Toggle.fake.calls)
    assert env.journal.entries() == []


def test_a_fault_that_does_not_take_effect_is_an_error_and_rolled_back(env: FaultEnv) -> None:
    Toggle.fake.ignore_act_on = "sd-t-api-2"
    with pytest.raises(FaultError, match="did not take effect on sd-t-api-2"):
        Toggle(env, "api").apply()
    assert not any(Toggle.fake.faulty.values())
    assert env.journal.entries() == []


def test_an_exception_in_the_block_still_reverts(env: FaultEnv) -> None:
    with pytest.raises(KeyboardInterrupt), Toggle(env, "api-0"):
        raise KeyboardInterrupt
    assert Toggle.fake.faulty["sd-t-api-0"] is False
    assert env.journal.entries() == []


def test_a_failed_revert_keeps_the_journal_entry_for_reap(env: FaultEnv) -> None:
    Toggle.fake.fail_undo_on = "sd-t-api-1"
    fault = Toggle(env, "api")
    fault.apply()
    with pytest.raises(RevertError, match="stackdrill reap"):
        fault.revert()
    # Every other target was still reverted; the one that failed stays on record.
    assert Toggle.fake.faulty == {"sd-t-api-0": False, "sd-t-api-1": True, "sd-t-api-2": False}
    assert [e.id for e in env.journal.entries()] == [fault.id]


def test_a_journaled_fault_is_reverted_by_another_process(env: FaultEnv) -> None:
    Toggle(env, "api-2").apply()  # this "process" dies here
    [entry] = env.journal.entries()
    restored = Toggle.restore(env, entry)
    restored.revert()
    restored.revert()  # twice is harmless
    assert Toggle.fake.faulty["sd-t-api-2"] is False
    assert env.journal.entries() == []
