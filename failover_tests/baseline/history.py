"""The history a drift gate judges against: green report.json files, read into typed figures."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from failover_tests.outcomes import PASSED, REPORT_SCHEMA
from failover_tests.slo import pair_text
from infra.errors import ScenarioError

DEFAULT_RUNS = 3
KEEP_SAVED = 20  # `--baseline-save` keeps this many of its own files in DIR, the newest
_SAVED_NAME = re.compile(r"report-\d{8}T\d{6}Z\.json")
DEFAULT_TOLERANCE = 0.10
MAX_TOLERANCE = 10.0
CHECK_NAME = "baseline"  # the name of the gate's checks in a scenario's verdict
JUDGED_STATUSES = frozenset({"pass", "fail"})  # a verdict on a topology meant to hold (not `caught`)
SCENARIO_STATUSES = ("pass", "caught", "fail", "error", "unjudged")


# -- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    """What `stackdrill drill --baseline` asks: where the history is, how much of it, how strict."""

    dir: Path
    runs: int = DEFAULT_RUNS
    tolerance: float = DEFAULT_TOLERANCE
    save: bool = False  # copy the run's report.json into `dir` when it is green

    def __post_init__(self) -> None:
        """Refuse bad values before anything is created (exit 2)."""
        if self.runs < 1:
            raise ScenarioError(f"--baseline-runs {self.runs}: give 1 or more (the green runs to compare with)")
        if not 0.0 <= self.tolerance < MAX_TOLERANCE:
            raise ScenarioError(
                f"--baseline-tolerance {self.tolerance:g}: give a fraction from 0 to below {MAX_TOLERANCE:g} "
                "(0.1 allows 10% above the median)"
            )
        _refuse_a_file(self.dir)


def _refuse_a_file(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ScenarioError(
            f"--baseline {directory}: is a file; give the directory where the pipeline keeps green report.json files"
        )


# -- the slice of report.json the gate reads --------------------------------------------------

_LOOSE = ConfigDict(extra="ignore", frozen=True)


class StatsDoc(BaseModel):
    """One path in one window: `stats[]` or `paths[...].total` of a scenario."""

    model_config = _LOOSE
    path: str
    window: str
    start_s: float = 0.0
    end_s: float = 0.0
    count: int = 0
    p99_ms: float | None = None
    longest_failure_run: int | None = None
    fallback_share: float | None = None
    success_ratio: float | None = None


class CheckDoc(BaseModel):
    """One check of a scenario's verdict."""

    model_config = _LOOSE
    name: str
    path: str
    window: str = ""
    window_start_s: float = 0.0
    window_end_s: float = 0.0
    observed: float | None = None


class VerdictDoc(BaseModel):
    """A scenario's verdict: its checks."""

    model_config = _LOOSE
    checks: list[CheckDoc] = []


class WindowDoc(BaseModel):
    """One of a scenario's windows (before, during, after)."""

    model_config = _LOOSE
    name: str


class PathDoc(BaseModel):
    """One traffic path of a scenario: its figures over the whole run."""

    model_config = _LOOSE
    total: StatsDoc | None = None


class ScenarioDoc(BaseModel):
    """The parts of one scenario of report.json that hold its figures."""

    model_config = _LOOSE
    name: str
    status: str
    windows: list[WindowDoc] = []
    stats: list[StatsDoc] = []
    verdict: VerdictDoc | None = None
    paths: dict[str, PathDoc] = {}


class ReportDoc(BaseModel):
    """The parts of a report.json the gate reads."""

    model_config = _LOOSE
    schema_: str = Field(alias="schema")
    generated_at: AwareDatetime
    verdict: str
    scenarios: list[ScenarioDoc] = []


# -- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """A kind of figure: its name (as JUnit properties call it), how it reads, and its floor."""

    name: str
    label: str
    floor: float
    unit: str  # "ms", "s", "%" (a share, shown in percent) or "" (a count of requests)
    decimals: int

    def _text(self, number: str) -> str:
        return f"{number}%" if self.unit == "%" else f"{number} {self.unit}" if self.unit else number

    @property
    def _scale(self) -> float:
        return 100.0 if self.unit == "%" else 1.0

    def pair(self, observed: float, limit: float) -> tuple[str, str]:
        """Observed and limit written with their unit, with enough decimals to tell them apart."""
        obs, lim = pair_text(observed * self._scale, limit * self._scale, self.decimals)
        return self._text(obs), self._text(lim)

    def show(self, value: float) -> str:
        """One value written with its unit."""
        return self._text(f"{value * self._scale:.{self.decimals}f}")

    def floor_text(self) -> str:
        """The floor written with its unit (`5 ms`, `0.25 s`, `2`, `2 points`)."""
        if self.unit == "%":
            points = self.floor * 100.0
            return f"{points:g} point{'' if points == 1 else 's'}"
        return f"{self.floor:g} {self.unit}" if self.unit else f"{self.floor:g}"


P99 = Kind("p99_ms", "p99", 5.0, "ms", 0)
FAILURE_RUN = Kind("longest_failure_run", "longest failure run", 2.0, "", 0)
FALLBACK_SHARE = Kind("fallback_share", "fallback share", 0.02, "%", 1)
DETECTION = Kind("detection_s", "slowest detection", 0.25, "s", 2)
REJOIN = Kind("rejoin_s", "slowest rejoin", 0.25, "s", 2)
WRITE_GAP = Kind("write_gap_s", "write gap", 0.25, "s", 2)
RESTORE_WRITE_GAP = Kind("restore_write_gap_s", "write gap from the revert", 0.25, "s", 2)
RECOVERY = Kind("recovery_s", "recovery", 0.25, "s", 2)
KINDS: Mapping[str, Kind] = {
    k.name: k for k in (P99, FAILURE_RUN, FALLBACK_SHARE, DETECTION, REJOIN, WRITE_GAP, RESTORE_WRITE_GAP, RECOVERY)
}
# Checks whose observed value is a figure; several checks of one path (one per LB and target) give their worst.
CHECK_KINDS: Mapping[str, Kind] = {
    "lb_down": DETECTION,
    "lb_rejoin": REJOIN,
    "write_gap": WRITE_GAP,
    "restore_write_gap": RESTORE_WRITE_GAP,
    "recovery": RECOVERY,
}


@dataclass(frozen=True)
class Figure:
    """One lower-is-better figure of one scenario, and where it was read."""

    scenario: str
    path: str  # a traffic path (api.complete) or an LB tier (edge, api_lb)
    kind: Kind
    value: float
    window: str  # the stats window (during, all) or the check's window
    start_s: float = 0.0
    end_s: float = 0.0

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes two runs' figures the same figure: scenario, path, kind and window."""
        return (self.scenario, self.path, self.kind.name, self.window)


def stats_of(doc: ScenarioDoc, path: str, window: str) -> StatsDoc | None:
    found = next((s for s in doc.stats if s.path == path and s.window == window), None)
    if found is None:
        found = next((s for s in doc.stats if s.path == path and s.window == "all"), None)
    if found is None and path in doc.paths:
        found = doc.paths[path].total
    return found


def _stats_figures(doc: ScenarioDoc) -> list[Figure]:
    window = "during" if any(w.name == "during" for w in doc.windows) else "all"
    paths = list(dict.fromkeys([*doc.paths, *(s.path for s in doc.stats)]))
    out: list[Figure] = []
    for path in paths:
        stats = stats_of(doc, path, window)
        if stats is None or not stats.count:
            continue
        for kind, value in (
            (P99, stats.p99_ms),
            (FAILURE_RUN, stats.longest_failure_run),
            (FALLBACK_SHARE, stats.fallback_share),
        ):
            if value is not None:
                out.append(Figure(doc.name, path, kind, float(value), stats.window, stats.start_s, stats.end_s))
    return out


def _check_figures(doc: ScenarioDoc) -> list[Figure]:
    worst: dict[tuple[str, str, str], Figure] = {}
    for check in doc.verdict.checks if doc.verdict is not None else []:
        kind = CHECK_KINDS.get(check.name)
        if kind is None or check.observed is None:
            continue  # an LB that never marked its target down failed its own check already
        figure = Figure(
            doc.name, check.path, kind, check.observed, check.window, check.window_start_s, check.window_end_s
        )
        key = (check.path, kind.name, check.window)
        if key not in worst or figure.value > worst[key].value:
            worst[key] = figure
    return list(worst.values())


def scenario_figures(doc: ScenarioDoc) -> list[Figure]:
    """Every figure the gate judges of one scenario: traffic paths first, then checks."""
    return _stats_figures(doc) + _check_figures(doc)


# -- history ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    """One green run of the history: its file, when it was generated, and its figures."""

    file: Path
    generated_at: dt.datetime
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class History:
    """The green runs to judge against, newest first, and what was skipped on the way (one line each)."""

    dir: Path
    runs: tuple[Baseline, ...] = ()
    notes: tuple[str, ...] = ()

    def values(self) -> dict[tuple[str, str, str, str], list[float]]:
        """Every figure's values over the green runs that have it, newest first."""
        out: dict[tuple[str, str, str, str], list[float]] = {}
        for run in self.runs:
            for figure in run.figures:
                out.setdefault(figure.key, []).append(figure.value)
        return out

    def name_of(self, run: Baseline) -> str:
        """A run's file, relative to the history's directory."""
        try:
            return str(run.file.relative_to(self.dir))
        except ValueError:
            return str(run.file)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _read(file: Path) -> Baseline | str:
    """A green run read from `file`, or why it is no baseline."""
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    except ValueError as exc:
        return f"not valid JSON ({exc})"
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if schema != REPORT_SCHEMA:
        return f"schema {schema!r}, not {REPORT_SCHEMA}" if schema else "not a stackdrill report (no schema)"
    try:
        report = ReportDoc.model_validate(doc)
    except ValidationError as exc:
        return f"not a readable {REPORT_SCHEMA} report ({_first_error(exc)})"
    if report.verdict != PASSED:
        return f"a red run (verdict {report.verdict})"
    figures = [f for s in report.scenarios if s.status == "pass" for f in scenario_figures(s)]
    return Baseline(file, report.generated_at, tuple(figures))


def _one_file_per_run(green: list[Baseline], root: Path, notes: list[str]) -> list[Baseline]:
    """Newest first, each run once: a saved copy of a report.json also in DIR is the same run."""
    kept: dict[dt.datetime, Baseline] = {}
    for run in sorted(green, key=lambda b: b.generated_at, reverse=True):
        first = kept.setdefault(run.generated_at, run)
        if first is not run:
            notes.append(f"skipped {run.file.relative_to(root)}: the same run as {first.file.relative_to(root)}")
    return list(kept.values())


def load_baselines(directory: Path | str, runs: int = DEFAULT_RUNS) -> History:
    """The newest `runs` green report.json files under `directory` (recursive), by `generated_at`.

    A file of another schema, that is not JSON, or of a red run is skipped, with a note. A
    directory that does not exist or holds no green run is no error: the gate has nothing to
    judge against (a pipeline's first run). A path that is a file is bad input (ScenarioError).
    """
    root = Path(directory)
    _refuse_a_file(root)
    if not root.is_dir():
        return History(root, (), (f"{root} does not exist: no green run to judge against yet",))
    green: list[Baseline] = []
    notes: list[str] = []
    for file in sorted(p for p in root.rglob("*.json") if p.is_file()):
        read = _read(file)
        if isinstance(read, str):
            notes.append(f"skipped {file.relative_to(root)}: {read}")
        else:
            green.append(read)
    green = _one_file_per_run(green, root, notes)
    if not green:
        notes.append(f"no green {REPORT_SCHEMA} report in {root}: no run to judge against yet")
    elif len(green) > runs:
        notes.append(f"{len(green) - runs} older green run(s) not used (the newest {runs} are)")
    return History(root, tuple(green[:runs]), tuple(notes))


def save_baseline(report_json: Path, generated_at: str, directory: Path, keep: int = KEEP_SAVED) -> Path:
    """Copy a green run's report.json into `directory` as `report-<generated_at, compact>.json`.

    The history does not grow without end: of the files saved this way (`report-<UTC>.json`),
    only the newest `keep` stay; other files in the directory are never touched.
    """
    when = dt.datetime.fromisoformat(generated_at).astimezone(dt.UTC)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"report-{when:%Y%m%dT%H%M%SZ}.json"
    shutil.copyfile(report_json, target)
    saved = sorted(p for p in directory.glob("report-*.json") if _SAVED_NAME.fullmatch(p.name))
    for old in saved[: max(0, len(saved) - keep)]:
        old.unlink(missing_ok=True)
    return target


# -- judging ------------------------------------------------------------------------------------
