"""The Redis start-up fence: an old primary stays down while Sentinel replaces it, and only then."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.app.redis_fence import SDOWN_GRACE_S, View, main, reason_to_wait, view_of

ME = "sd-s-redis-0"


def view(
    primary: str = ME,
    flags: str = "master",
    pending: int = 0,
    last_ok: int = 100,
    reached: bool = True,
    replicas: int = 0,
) -> View:
    return View("sd-s-sentinel-0", primary, frozenset(flags.split(",")), pending, last_ok, reached, replicas)


def test_a_node_no_sentinel_names_the_primary_starts_at_once() -> None:
    assert reason_to_wait([view(primary="sd-s-redis-1")], ME, 1000, 0.0) is None
    assert reason_to_wait([], ME, 1000, 0.0) is None  # no Sentinel to ask: never keep the store down


def test_a_primary_being_failed_over_waits() -> None:
    assert "failing" in str(reason_to_wait([view(flags="master,s_down,o_down,failover_in_progress")], ME, 1000, 0.0))
    assert "objectively down" in str(reason_to_wait([view(flags="master,s_down,o_down")], ME, 1000, 0.0))


def test_a_primary_about_to_be_flagged_waits_and_a_fresh_one_starts() -> None:
    assert "about to act" in str(reason_to_wait([view(pending=700)], ME, 1000, 0.0))
    assert "about to act" in str(reason_to_wait([view(last_ok=900)], ME, 1000, 0.0))
    assert reason_to_wait([view(pending=0, last_ok=200)], ME, 1000, 0.0) is None
    # A long down-after (the unsafe no-persistence topology): a quick restart is not fenced.
    assert reason_to_wait([view(last_ok=1500)], ME, 5000, 0.0) is None


def test_a_restarted_primary_waits_for_the_failover_even_when_the_sentinels_look_calm() -> None:
    """The decision and the node's first PING reply are apart by its start-up: a restarted primary
    the Sentinels still name never starts as primary before they have replaced it."""
    calm = [view(pending=0, last_ok=200)]
    assert reason_to_wait(calm, ME, 1000, 0.0) is None  # first start: nothing to protect yet
    assert "waits for their failover" in str(reason_to_wait(calm, ME, 1000, 0.0, restarted=True))
    # ... until a Sentinel names another primary, or the Sentinels plainly will not fail it over.
    assert reason_to_wait(calm + [view(primary="sd-s-redis-1")], ME, 1000, 0.0, restarted=True) is None
    flagged = [view(flags="master,s_down", last_ok=3000)]
    assert reason_to_wait(flagged, ME, 1000, SDOWN_GRACE_S, restarted=True) is None
    assert reason_to_wait([], ME, 1000, 0.0, restarted=True) is None


def test_the_marker_tells_a_restart_from_a_first_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / ".served"
    args = ["--me", ME, "--sentinels", "", "--down-after-ms", "1000", "--bound-s", "1", "--marker", str(marker)]
    assert main(args) == 0 and marker.exists()
    assert "first start" in capsys.readouterr().err
    assert main(args) == 0
    assert "redis_fence: restart:" in capsys.readouterr().err


def test_subjectively_down_without_a_quorum_waits_only_a_grace() -> None:
    flagged = [view(flags="master,s_down", last_ok=3000)]
    assert reason_to_wait(flagged, ME, 1000, 0.5) is not None
    assert reason_to_wait(flagged, ME, 1000, SDOWN_GRACE_S) is None


def test_one_sentinel_naming_the_new_primary_ends_the_wait() -> None:
    views = [view(flags="master,s_down,o_down,failover_in_progress"), view(primary="sd-s-redis-2")]
    assert reason_to_wait(views, ME, 1000, 0.0) is None


def test_view_from_a_sentinel_master_reply() -> None:
    state = {"ip": ME, "flags": "master,s_down", "last-ping-sent": "1200", "last-ok-ping-reply": "1300", "runid": "x"}
    assert view_of("s0", state) == View("s0", ME, frozenset({"master", "s_down"}), 1200, 1300)


def test_a_new_store_starts_at_once_even_while_the_sentinels_flag_it() -> None:
    """No Sentinel has reached the node nor knows a replica of it: nothing can be promoted over
    it, so a new stack's primary does not wait out down-after and the grace (about 5 s)."""
    fresh = [view(flags="master,s_down", last_ok=3000, reached=False), view(pending=900, reached=False)]
    assert reason_to_wait(fresh, ME, 1000, 0.0) is None
    # Once one Sentinel has reached it, or knows a replica (its rewritten config), the rules hold.
    assert reason_to_wait([*fresh, view(pending=900)], ME, 1000, 0.0) is not None
    assert reason_to_wait([view(pending=900, reached=False, replicas=1)], ME, 1000, 0.0) is not None
    # A restarted node is never waved through on that.
    assert reason_to_wait(fresh, ME, 1000, 0.0, restarted=True) is not None


def test_view_knows_whether_the_sentinel_ever_reached_the_node() -> None:
    never = view_of("s0", {"ip": ME, "flags": "master", "runid": "", "num-slaves": "0"})
    assert not never.reached and never.replicas == 0
    seen = view_of("s0", {"ip": ME, "flags": "master", "runid": "ab12", "num-slaves": "2"})
    assert seen.reached and seen.replicas == 2
