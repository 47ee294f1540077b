"""The drift gate: judge a run also against the last green report.json files a pipeline keeps.

An absolute SLO fails the day a figure crosses it; a slow drift (p99 a little higher every week,
the LBs a little slower to mark a replica down) passes every SLO until then.
`stackdrill drill --baseline DIR` also compares the run's figures with the same figures of the
newest green runs kept in DIR, and a figure regresses when

    current > median * (1 + max(tolerance, noise_band)) + floor

- **figures**, per scenario (by name), all lower-is-better: per traffic path its p99, longest run
  of failures and fallback share (in the `during` window, else over the whole run); per LB tier
  the slowest detection (`lb_down`) and rejoin (`lb_rejoin`); the write gaps (`write_gap`,
  `restore_write_gap`); per path the recovery time (`recovery`). Only scenarios that passed in a
  green run count as its figures, and only scenarios of the run that passed or failed are judged
  (a `caught` one is a broken topology doing its job); a figure missing from the run or from every
  green run is not judged.
- **median** of the green runs that have the figure; **tolerance** a fraction (0.10 = 10%).
- **noise band** (`noise_band`): (max - min) / median of those values, the spread the green runs
  themselves show; a noisy figure gets that much room instead of the tolerance. It is the band
  `stackdrill compare --repeat` is to use, so both commands agree on what is noise.
- **floor**, absolute, per kind of figure (`KINDS`), so that a tiny figure does not flap: 5 ms of
  latency, 0.25 s of detection, rejoin, write gap or recovery, 2 requests of a failure run, 2
  points of fallback share.

Everything here but `load_baselines` and `save_baseline` (which read and write DIR) is a pure
function of report.json documents (schema `stackdrill.report/1`). `apply` returns a new document
with one `baseline` check per judged figure, the scenarios and tests the gate turned red, the
run's verdict, exit code and summary judged again, and a top-level `baseline` section.
"""

from failover_tests.baseline.gate import Gate, Judgement, apply, judge, judge_figure, noise_band
from failover_tests.baseline.history import (
    CHECK_NAME,
    DEFAULT_RUNS,
    DEFAULT_TOLERANCE,
    KINDS,
    MAX_TOLERANCE,
    Baseline,
    Figure,
    GateSettings,
    History,
    Kind,
    load_baselines,
    save_baseline,
    scenario_figures,
)

__all__ = [
    "CHECK_NAME",
    "DEFAULT_RUNS",
    "DEFAULT_TOLERANCE",
    "KINDS",
    "MAX_TOLERANCE",
    "Baseline",
    "Figure",
    "Gate",
    "GateSettings",
    "History",
    "Judgement",
    "Kind",
    "apply",
    "judge",
    "judge_figure",
    "load_baselines",
    "noise_band",
    "save_baseline",
    "scenario_figures",
]
