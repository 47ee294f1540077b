"""A Pulumi update under traffic: replicas replaced one index at a time, drained first, drop
nothing; the same kind of update applied all at once drops requests (so the count can fail)."""

from __future__ import annotations

from typing import Any

import pytest

from failover_tests.traffic import Record
from infra import topology


def failed_during(stack: Any, target: str, *, rolling: bool) -> tuple[list[Record], int]:
    """Requests that failed while the stack was updated to `target`, and how many were sent."""
    probe = stack.probe(rate_per_s=10, duration_s=300, name=f"update-{target}")
    with probe:
        probe.mark("update")
        stack.update(topology.load(target), rolling=rolling)
        probe.mark("updated")
        probe.stop()
    records = probe.records
    return [r for r in records if not r.ok], len(records)


@pytest.mark.destructive
def test_rolling_update_from_naive_to_default_drops_no_request(stack_factory: Any) -> None:
    stack = stack_factory("naive")
    failed, sent = failed_during(stack, "default", rolling=True)
    assert sent > 200
    assert failed == [], f"{len(failed)} of {sent} requests failed during the rolling update: {failed[:3]}"
    # The update replaced the API tier: the protected profile answers now.
    assert stack.topology.api.resilience.profile == "protected"
    # And the same kind of change applied all at once (every API and web replica replaced
    # together) does drop requests: the count above can fail.
    failed, sent = failed_during(stack, "naive", rolling=False)
    assert len(failed) > 10, f"a plain update dropped only {len(failed)} of {sent} requests"
