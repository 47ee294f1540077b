"""`stackdrill compare`: the topology diff, the noise band, regressions, git sources, the files it writes."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from failover_tests.compare import sources
from failover_tests.compare.diff import spof_diff, topology_diff
from failover_tests.compare.judge import FAILED_SHARE, LOST_WRITES, compare_reports
from infra import topology
from infra.errors import TopologyError
from tests.unit.baseline_cases import check, report, scenario

ROOT = Path(__file__).resolve().parents[2]


def topo(**over: Any) -> topology.Topology:
    base = topology.load("default").to_dict()
    for dotted, value in over.items():
        node = base
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return topology.parse(base)


# -- the topology diff and the SPOF diff -------------------------------------------------------


def test_the_diff_lists_each_changed_key_old_to_new_with_defaults_filled_in() -> None:
    changed = topo(api_lb__health_check__inter_ms=5000, web__replicas=1)
    diff = topology_diff(topology.load("default"), changed)
    assert [str(c) for c in diff] == ["api_lb.health_check.inter_ms: 500 -> 5000", "web.replicas: 2 -> 1"]
    assert topology_diff(changed, changed) == []


def test_the_diff_shows_lists_and_booleans_as_yaml_writes_them() -> None:
    diff = topology_diff(topology.load("default"), topo(zones=["a"], edge__redispatch=False))
    assert "zones: [a, b] -> [a]" in [str(c) for c in diff]
    assert "edge.redispatch: true -> false" in [str(c) for c in diff]


def test_the_spof_diff_shows_one_removed_by_a_replica_and_one_added_by_losing_one() -> None:
    one_web = topo(web__replicas=1)
    added = spof_diff(topology.load("default"), one_web)
    assert added.added == ("web: one replica: losing it takes the tier down",) and not added.removed
    removed = spof_diff(one_web, topology.load("default"))
    assert removed.removed == added.added and not removed.added
    assert spof_diff(one_web, one_web).kept  # the integration's SPOF is on both sides


# -- judging two sets of runs ------------------------------------------------------------------


def runs(*p99s: float, status: str = "pass", **kw: Any) -> list[dict[str, Any]]:
    return [report(scenario(p99_ms=v, status=status, **kw)) for v in p99s]


def p99(deltas: Any) -> Any:
    [found] = [f for f in deltas.scenarios[0].figures if f.kind.name == "p99_ms" and f.window == "during"]
    return found


def test_a_p99_worse_by_more_than_the_tolerance_and_floor_regresses() -> None:
    # Two runs a side, no spread: 330 ms * 1.25 + 5 ms = 417.5 ms: 418 regresses, 417 does not.
    assert compare_reports(runs(330, 330), runs(418, 418)).regressed
    same = compare_reports(runs(330, 330), runs(417, 417))
    assert not same.regressed and p99(same).state == "same"
    message = compare_reports(runs(330, 330), runs(418, 418)).regressed[0].regressions[0]
    assert message == "api.complete: p99 330 ms -> 418 ms (limit 418 ms: 25% + 5 ms)"


def test_one_run_a_side_takes_the_band_measured_between_identical_runs() -> None:
    # A fault window's p99 is its one or two slowest requests: 103-366 ms between identical runs
    # here, so one run a side allows 300%: 330 ms * 4 + 5 ms = 1325 ms.
    assert not compare_reports(runs(330), runs(1325)).regressed
    [s] = compare_reports(runs(330), runs(1326)).regressed
    assert s.regressions == ["api.complete: p99 330 ms -> 1326 ms (limit 1325 ms: 300% noise band + 5 ms)"]
    assert p99(compare_reports(runs(330), runs(330, 340))).band == 3.0


def test_the_noise_band_of_repeated_runs_widens_the_limit() -> None:
    # Base runs 300/330/400: band (400 - 300) / 330 = 30.3%, wider than 25%.
    deltas = compare_reports(runs(300, 330, 400), runs(430, 430, 430))
    figure = p99(deltas)
    assert figure.band == pytest.approx(100 / 330)
    assert figure.limit == pytest.approx(330 * (1 + 100 / 330) + 5)  # 435 ms
    assert figure.state == "same" and "30% noise band" in figure.describe()
    assert compare_reports(runs(300, 330, 400), runs(440, 440, 440)).regressed
    # The candidate's own spread counts as well.
    assert p99(compare_reports(runs(330, 330), runs(300, 420))).band == pytest.approx(120 / 360)


def test_an_improvement_is_the_mirror_of_a_regression() -> None:
    deltas = compare_reports(runs(1000, 1000), runs(500, 500))
    assert deltas.improved and not deltas.regressed
    assert deltas.improved[0].improvements[0].startswith("api.complete: p99 1000 ms -> 500 ms")


def test_a_verdict_that_got_worse_regresses_even_with_every_figure_the_same() -> None:
    deltas = compare_reports(runs(330), runs(330, status="fail"))
    [s] = deltas.regressed
    assert s.regressions[0] == "verdict pass -> fail: api.complete: p99 330"
    assert compare_reports(runs(330, status="fail"), runs(330)).improved


def test_one_failed_run_of_three_is_a_regression_and_says_so() -> None:
    candidate = runs(330, 330) + runs(330, status="fail")
    [s] = compare_reports(runs(330, 330, 330), candidate).regressed
    assert s.regressions[0].startswith("verdict pass -> fail (1 of 3 runs)")


def test_scenarios_on_one_side_only_are_shown_and_a_new_failing_one_regresses() -> None:
    base = [report(scenario("lose-one-web"))]
    cand = [report(scenario("lose-one-web"), scenario("lose-one-cache", status="fail"))]
    deltas = compare_reports(base, cand)
    by_name = {s.name: s for s in deltas.scenarios}
    assert by_name["lose-one-cache"].only == "candidate" and by_name["lose-one-cache"].state == "regressed"
    gone = compare_reports(cand, base)
    assert {s.name: s.only for s in gone.scenarios}["lose-one-cache"] == "base"
    assert not gone.regressed


def test_an_error_on_either_side_is_no_verdict_and_no_figure() -> None:
    deltas = compare_reports(runs(330), runs(9000, status="error"))
    assert not deltas.regressed and deltas.errors
    assert deltas.scenarios[0].figures == ()


def test_failed_share_and_lost_writes_are_compared() -> None:
    base = [report(scenario(run=0, checks=[check("lost_writes", "api.sessions", 0.0)]))]
    cand = [report(scenario(run=5, checks=[check("lost_writes", "api.sessions", 3.0)]))]
    figures = {f.kind: f for f in compare_reports(base, cand).scenarios[0].figures}
    assert figures[FAILED_SHARE].candidate_median == pytest.approx(0.05)
    assert figures[FAILED_SHARE].state == "regressed"
    assert figures[LOST_WRITES].state == "regressed"
    assert figures[LOST_WRITES].describe().startswith("api.sessions: lost writes 0 -> 3")


def test_the_same_figures_on_both_sides_are_no_regression() -> None:
    deltas = compare_reports(runs(330, 340), runs(335, 338))
    assert not deltas.regressed and not deltas.improved


# -- sources: names, paths, git revisions --------------------------------------------------------


def test_a_name_and_a_path_resolve_to_the_same_topology() -> None:
    by_name = sources.resolve("default")
    by_path = sources.resolve(str(ROOT / "Pulumi.default.yaml"))
    assert by_name.topology == by_path.topology and by_name.label == "default"
    assert by_path.label == "Pulumi.default.yaml"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with two revisions of Pulumi.mine.yaml: 3 API replicas, then 1."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    text = (ROOT / "Pulumi.default.yaml").read_text()
    (repo / "Pulumi.mine.yaml").write_text(text)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "three")
    (repo / "Pulumi.mine.yaml").write_text(text.replace("replicas: 3", "replicas: 1"))
    _git(repo, "commit", "-q", "-am", "one")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("STACKDRILL_STATE", str(tmp_path / "state"))
    return repo


def test_a_git_revision_is_read_as_it_was_at_that_commit(repo: Path) -> None:
    old = sources.resolve("git:HEAD~1:Pulumi.mine.yaml")
    new = sources.resolve("git:main:Pulumi.mine.yaml")
    assert (old.topology.api.replicas, new.topology.api.replicas) == (3, 1)
    assert old.path.is_file() and old.path.name == "Pulumi.mine.yaml" and old.label == "git:HEAD~1:Pulumi.mine.yaml"
    assert [str(c) for c in topology_diff(old.topology, new.topology)] == ["api.replicas: 3 -> 1"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("git:nosuchrev:Pulumi.mine.yaml", "git:nosuchrev:Pulumi.mine.yaml: git cannot read it in"),
        ("git:HEAD:Pulumi.absent.yaml", "git:HEAD:Pulumi.absent.yaml: git cannot read it in"),
        ("git:HEAD", "git:HEAD: write a git revision as git:REV:PATH"),
        ("nosuch", "unknown topology 'nosuch'"),
        ("", "an empty topology name"),
    ],
)
def test_a_bad_source_is_one_line_of_bad_input(repo: Path, spec: str, message: str) -> None:
    with pytest.raises(TopologyError) as err:
        sources.resolve(spec)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


# -- the command, end to end, on throwaway drills (no stack) ----------------------------------

SUITE = """
from failover_tests.results import ScenarioResult
from failover_tests.slo import SLO, evaluate, windows_around
from failover_tests.traffic import Record
from infra import topology


def test_kill_api(drill_report, request):
    # The "model latency" of the topology under test sets this fake scenario's latency.
    latency_ms = topology.load(request.config.getoption("stackdrill_topology")).model.latency_ms * 4
    records = [
        Record(path="api.complete", seq=i, scheduled_s=i * 0.1, latency_ms=latency_ms + i % 3, status=200, ok=True,
               replica="api-0", endpoint="edge-0", error=None, fallback=False,
               completed_s=i * 0.1 + latency_ms / 1000)
        for i in range(100)
    ]
    windows = windows_around(2.0, 6.0, 10.0)
    verdict = evaluate(records, [SLO("api.complete", max_p99_ms=5000)], windows, "kill(api-1)")
    drill_report.tests.ran_scenario(request.node.nodeid, "kill-api")
    drill_report.add(ScenarioResult(
        name="kill-api", fault_label="kill(api-1)", fault_start_s=2.0, fault_end_s=6.0, windows=windows,
        verdict=verdict, records=records, duration_s=10.0, paths=("api.complete",),
    ))
"""


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackdrill.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ, "STACKDRILL_STATE": str(tmp_path / "state"), "COLUMNS": "200"},
        timeout=300,
        check=False,
    )


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite" / "test_compare_suite.py"
    path.parent.mkdir()
    path.write_text(SUITE)
    return path


def slow(tmp_path: Path, latency_ms: int) -> Path:
    text = (ROOT / "Pulumi.default.yaml").read_text().replace("latency_ms: 50", f"latency_ms: {latency_ms}")
    path = tmp_path / f"Pulumi.slow{latency_ms}.yaml"
    path.write_text(text)
    return path


def run_compare(tmp_path: Path, base: str, candidate: str, *extra: str) -> tuple[int, str, dict[str, Any], Path]:
    from rich.console import Console

    from stackdrill.compare import CompareSettings, run_compare

    out_dir = tmp_path / "cmp"
    settings = CompareSettings(
        base=sources.resolve(base),
        candidate=sources.resolve(candidate),
        scenarios=tuple(extra),
        seed=7,
        out_dir=out_dir,
        junit=out_dir / "junit.xml",
        repeat=1,
    )
    import io

    text = io.StringIO()
    outcome = run_compare(settings, console=Console(file=io.StringIO(), width=200), out=Console(file=text, width=200))
    return outcome.code, text.getvalue(), json.loads((out_dir / "compare.json").read_text()), out_dir


def test_compare_names_the_regressed_scenario_and_figure_and_exits_1(
    tmp_path: Path, suite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKDRILL_STATE", str(tmp_path / "state"))
    # One run a side: a p99 regresses above 4x the base's + 5 ms (the single-run noise band).
    code, text, doc, out_dir = run_compare(tmp_path, "default", str(slow(tmp_path, 250)), str(suite))
    assert code == 1 and doc["verdict"] == "regressed" and doc["exit_code"] == 1
    [s] = doc["scenarios"]
    assert s["name"] == "kill-api" and s["state"] == "regressed"
    assert s["regressions"][0].startswith("api.complete: p99 202 ms -> 1002 ms")
    assert "model.latency_ms: 50 -> 250" in text and "REGRESSED" in text
    assert doc["changes"] == [{"key": "model.latency_ms", "old": 50, "new": 250}]
    assert [r["side"] for r in doc["runs"]] == ["base", "candidate"] and doc["seed"] == 7
    page = (out_dir / "compare.html").read_text()
    assert "kill-api" in page and "regressed" in page and 'href="base/run1/report.html"' in page
    assert (out_dir / "base/run1/report.html").is_file() and (out_dir / "candidate/run1/report.json").is_file()
    junit = ET.parse(out_dir / "junit.xml").getroot()
    failure = junit.find(".//testcase[@name='kill-api']/failure")
    assert failure is not None and "p99 202 ms -> 1002 ms" in failure.get("message", "")


def test_compare_of_a_topology_with_itself_exits_0(
    tmp_path: Path, suite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKDRILL_STATE", str(tmp_path / "state"))
    code, text, doc, _ = run_compare(tmp_path, "default", "default", str(suite))
    assert code == 0 and doc["verdict"] == "passed" and doc["summary"]["same"] == 1
    assert "no key changed" in text


def test_compare_refuses_bad_input_with_one_line_and_exit_2_before_anything_runs(tmp_path: Path) -> None:
    done = _cli(tmp_path, "compare", "default", "git:nosuchrev:Pulumi.default.yaml", "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stderr.startswith("error: git:nosuchrev:Pulumi.default.yaml: git cannot read it")
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
    bad = _cli(tmp_path, "compare", "default", "default", "--repeat", "0")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --repeat 0: give 1 to 10 runs per side")
