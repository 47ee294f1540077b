"""Status-page truth: what the status page said, judged slice by slice against what clients saw.

The run is cut into time slices (``slice_s``, default 1 s, on the probe clock; the last one
may be shorter). Per slice:

- **Client health of a path**, from the requests *scheduled* in the slice (as in
  :mod:`failover_tests.slo`). A *real success* is an ok answer that is not a fallback answer:
  a cached completion or a degraded page is what the page must own up to, not a success.
  With fewer than ``min_requests`` requests the path is ``unknown`` and never judged;
  otherwise it is ``impaired`` when the real-success share is below ``impaired_below``,
  ``fine`` when it is at least ``fine_at_least``, and ``marginal`` in between (neither
  check fires on a marginal slice).
- **Expected state of a component**: the worst health (impaired > marginal > fine) of the
  known paths that use it, after :data:`DEPENDENCIES`; ``unknown`` when none is known.
- **What the page showed**: each status sample stands from its time until the next sample,
  for at most ``sample_hold_s`` (a failed sample leaves a gap, and a gap is never judged). A
  component's states in a slice are those of every sample standing during it.

Two checks, each over maximal runs of consecutive slices ("stretches"):

- ``status_truth_under`` (one per path): a stretch where the path is impaired while every
  component on it that the page reports stood at ``operational`` throughout each slice. It
  fails when the stretch lasts longer than the tolerance.
- ``status_truth_over`` (one per component): a stretch where the component stood at
  ``outage`` throughout each slice while its expected state was fine (every known path using
  it fine). It fails when the stretch lasts longer than the tolerance. ``degraded`` while
  clients are fine is never flagged: losing one replica is a real loss of redundancy.

Tolerance = the status service's poll interval + ``grace_s`` (default 2 s). Why the grace:
the page polls every dependency once per interval, each check under its own timeout
(``status.check_timeout_ms``, 1 s by default, and a timed-out check is only known when the
timeout fires), and the drill samples the page every 0.5 s; so a true change reaches the drill
up to one poll interval + one check timeout + one sample interval after clients felt it, and
the grace covers the last two with 0.5 s to spare. A stretch exactly as long as the tolerance
passes; one longer fails. Stretches are whole slices, so lengths move in ``slice_s`` steps.

Paths missing from the dependency map and components on no judged path (the integration,
whose notifications no client waits for in the protected profile) are shown in the
timeline but never judged.
"""

from __future__ import annotations

from failover_tests.status_truth.judge import StatusTruth, judge_status
from failover_tests.status_truth.rules import (
    DEFAULT_RULES,
    DEPENDENCIES,
    STATES,
    Health,
    State,
    StatusSample,
    StatusTruthRules,
)
from failover_tests.status_truth.timeline import ComponentSlice, PathSlice, TruthSlice

__all__ = [
    "DEFAULT_RULES",
    "DEPENDENCIES",
    "STATES",
    "ComponentSlice",
    "Health",
    "PathSlice",
    "State",
    "StatusSample",
    "StatusTruth",
    "StatusTruthRules",
    "TruthSlice",
    "judge_status",
]
