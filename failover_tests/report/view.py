"""The HTML view of a run and `write_report`, which writes `report.json` and `report.html`.

`build_report` makes the report.json document and `render_html` the HTML of a run; the HTML takes
every verdict it shows from the document, so a document judged again after the run (the drift
gate, `failover_tests.baseline`) is rendered as judged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from failover_tests.outcomes import ERROR, FAILED, INTERRUPTED, PASSED, SKIPPED, Outcome, run_verdict
from failover_tests.report.charts import COLORS, fmt_ms, latency_chart, replicas_chart, status_chart
from failover_tests.report.compact import (
    DEFAULT_BUCKET_S,
    REPORT_SCHEMA,
    Bucket,
    Worst,
    compact_records,
    scenario_json,
    scenario_stats,
    worst_of,
)
from failover_tests.results import ScenarioResult
from failover_tests.traffic import (
    JSONValue,
    WindowStats,
    summarize,
)

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"
TEMPLATE_NAME = "report.html.j2"


# -- HTML ----------------------------------------------------------------------------------


def _pct(ratio: float | None) -> str:
    """A success ratio as a percentage, never rounded up to 100%."""
    if ratio is None:
        return "–"
    if ratio >= 1.0:
        return "100%"
    return f"{math.floor(ratio * 1000.0) / 10.0:.1f}%"


def _share(ratio: float | None) -> str:
    """A share (fallbacks) as a percentage, never rounded down to 0% or up to 100%."""
    if ratio is None:
        return "–"
    if ratio <= 0.0 or ratio >= 1.0:
        return f"{ratio * 100.0:.0f}%"
    return f"{min(max(ratio * 100.0, 0.1), 99.9):.1f}%"


def _ms(value: float | None) -> str:
    """A latency for tables."""
    return "–" if value is None else fmt_ms(value)


def _slug(name: str, taken: set[str]) -> str:
    """A unique HTML id for a scenario."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "scenario"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _scenario_view(
    result: ScenarioResult,
    doc: Mapping[str, Any],
    buckets_by_path: Mapping[str, Sequence[Bucket]],
    stats: Sequence[WindowStats],
    worst: Worst,
    bucket_s: float,
    slug: str,
) -> dict[str, object]:
    """What the template shows for one scenario, formatted; its verdict as its report.json `doc` says."""
    charts = []
    for path in result.path_names:
        buckets = buckets_by_path.get(path, [])
        total = summarize(result.records, path)
        charts.append(
            {
                "path": path,
                "svg": latency_chart(result, path, buckets, bucket_s) if buckets else None,
                "requests": total.count,
                "success": _pct(total.success_ratio),
                "p50": _ms(total.p50_ms),
                "p99": _ms(total.p99_ms),
                "max": _ms(total.max_ms),
            }
        )
    replicas_svg, replicas_legend = replicas_chart(result, bucket_s)
    status_svg, status_legend = status_chart(result)
    verdict: Mapping[str, Any] = doc.get("verdict") or {}
    recovery = "–"
    if worst.recovery_checked:
        recovery = "never" if worst.recovery_s is None else f"{worst.recovery_s:.1f} s"
    return {
        "slug": slug,
        "name": result.name,
        "description": result.description,
        "status": doc.get("status", result.status),
        "fault": result.fault_label or "–",
        "targets": ", ".join(result.targets) or "–",
        "seed": "–" if result.seed is None else str(result.seed),
        "fault_window": (
            f"{result.fault_start_s:.1f} s..{result.fault_end_s:.1f} s"
            if result.fault_start_s is not None and result.fault_end_s is not None
            else "–"
        ),
        "duration": f"{result.duration_s:.1f} s",
        "error": result.error,
        "failures": list(verdict.get("failures") or []),
        "checks": [
            {"passed": c["passed"], "message": c["message"], "name": c["name"]} for c in verdict.get("checks") or []
        ],
        "stats": [
            {
                "path": s.path,
                "window": s.window,
                "span": f"{s.start_s:.1f}..{s.end_s:.1f} s",
                "count": s.count,
                "success": _pct(s.success_ratio),
                "p50": _ms(s.p50_ms),
                "p99": _ms(s.p99_ms),
                "max": _ms(s.max_ms),
                "run": s.longest_failure_run,
                "real": s.real_count,
                "fallback": s.fallback_count,
                "fallback_share": _share(s.fallback_share),
                "strict": s.fallback_is_failure,
                "bad": s.count > 0 and (s.success_ratio or 0.0) < 1.0,
            }
            for s in stats
        ],
        "charts": charts,
        "replicas_svg": replicas_svg,
        "replicas_legend": replicas_legend,
        "status_svg": status_svg,
        "status_legend": status_legend,
        "events": [{"t": f"{e.t_s:.2f} s", "label": e.label} for e in result.events],
        "spof": list(result.spof),
        "lag": (
            f"p50 {result.schedule_lag.p50_ms:.2f} ms, p99 {result.schedule_lag.p99_ms:.2f} ms, "
            f"max {result.schedule_lag.max_ms:.2f} ms"
            if result.schedule_lag
            else None
        ),
        "worst": {
            "requests": worst.requests,
            "success": _pct(worst.success_ratio),
            "success_where": worst.success_where,
            "p99": _ms(worst.p99_ms),
            "p99_where": worst.p99_where,
            "run": worst.failure_run,
            "recovery": recovery,
            "fallback": _share(worst.fallback_share) if worst.fallback_share is not None else "–",
            "fallback_where": worst.fallback_where,
        },
    }


def _environment() -> Environment:
    """The Jinja2 environment of the report template (autoescaped, strict)."""
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_SCENARIO_OUTCOME = {"pass": PASSED, "caught": PASSED, "fail": FAILED, "error": ERROR, "unjudged": SKIPPED}


def _outcomes_of(results: Sequence[ScenarioResult]) -> list[Outcome]:
    """Outcomes standing in for tests when the caller has none: one per scenario, by status."""
    return [
        Outcome(
            nodeid=r.name,
            outcome=_SCENARIO_OUTCOME[r.status],
            duration_s=r.duration_s,
            message=r.error or (r.verdict.failure_message() if r.verdict and r.status == "fail" else ""),
            scenarios=(r.name,),
        )
        for r in results
    ]


@dataclass(frozen=True)
class _Analysed:
    """What both report.json and the HTML read of one scenario, computed once."""

    result: ScenarioResult
    stats: list[WindowStats]
    worst: Worst
    buckets: dict[str, list[Bucket]]


def _analyse(results: Sequence[ScenarioResult], bucket_s: float) -> list[_Analysed]:
    out = []
    for result in results:
        stats = scenario_stats(result)
        out.append(_Analysed(result, stats, worst_of(result, stats), compact_records(result.records, bucket_s)))
    return out


def build_report(
    results: Sequence[ScenarioResult],
    meta: Mapping[str, JSONValue],
    *,
    tests: Sequence[Outcome] | None = None,
    interrupted: bool = False,
    spof: Sequence[str] = (),
    bucket_s: float = DEFAULT_BUCKET_S,
) -> dict[str, JSONValue]:
    """The report.json document of a run (see `write_report`)."""
    analysed = _analyse(results, bucket_s)
    return _document(analysed, meta, tests=tests, interrupted=interrupted, spof=spof, bucket_s=bucket_s)


def _document(
    analysed: Sequence[_Analysed],
    meta: Mapping[str, JSONValue],
    *,
    tests: Sequence[Outcome] | None,
    interrupted: bool,
    spof: Sequence[str],
    bucket_s: float,
) -> dict[str, JSONValue]:
    results = [a.result for a in analysed]
    generated_at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    all_spof: list[str] = [s for s in dict.fromkeys(spof)]
    for result in results:
        all_spof.extend(s for s in result.spof if s not in all_spof)
    outcomes = list(tests) if tests is not None else _outcomes_of(results)
    run = run_verdict(outcomes, interrupted=interrupted)
    counts = Counter(r.status for r in results)
    summary: dict[str, JSONValue] = {
        **{k: v for k, v in run.to_dict().items() if k not in ("verdict", "exit_code")},
        "scenarios": len(results),
        "scenario_status": {
            "pass": counts["pass"],
            "caught": counts["caught"],
            "fail": counts["fail"],
            "error": counts["error"],
            "unjudged": counts["unjudged"],
        },
    }
    return {
        "schema": REPORT_SCHEMA,
        "generated_at": generated_at,
        "verdict": run.verdict,
        "exit_code": run.exit_code,
        "meta": dict(meta),
        "summary": summary,
        "tests": [o.to_dict() for o in outcomes],
        "spof": list(all_spof),
        "scenarios": [scenario_json(a.result, a.stats, a.buckets, bucket_s) for a in analysed],
    }


def write_report_json(report: Mapping[str, Any], out_dir: Path | str) -> Path:
    """Write a report.json document into `out_dir`; return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return json_path


def render_html(
    results: Sequence[ScenarioResult],
    report: Mapping[str, Any],
    out_dir: Path | str,
    *,
    bucket_s: float = DEFAULT_BUCKET_S,
) -> Path:
    """Write `report.html` for the run `results` produced, as its report.json document `report` judges it.

    The charts and window tables come from the results (report.json keeps no single request);
    every verdict shown (the run's, each test's outcome, each scenario's status, checks and
    failures) comes from the document, so the HTML says what report.json says even after the
    document was judged again (`failover_tests.baseline`). The document's scenarios are the
    results', in the same order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return _render(_analyse(results, bucket_s), report, out, bucket_s)


def _render(analysed: Sequence[_Analysed], report: Mapping[str, Any], out: Path, bucket_s: float) -> Path:
    docs: list[Mapping[str, Any]] = list(report.get("scenarios") or [])
    if len(docs) != len(analysed):
        raise ValueError(f"report.json holds {len(docs)} scenarios, the run {len(analysed)}: not the same run")
    taken: set[str] = set()
    slugs: dict[str, str] = {}
    views: list[dict[str, object]] = []
    for item, doc in zip(analysed, docs, strict=True):
        slug = _slug(item.result.name, taken)
        slugs.setdefault(item.result.name, slug)
        views.append(_scenario_view(item.result, doc, item.buckets, item.stats, item.worst, bucket_s, slug))
    outcomes = [Outcome.from_dict(t) for t in report.get("tests") or []]
    test_views = [
        {
            "name": o.name,
            "test": o.test,
            "outcome": o.outcome,
            "duration": f"{o.duration_s:.1f} s",
            "message": o.message,
            "slug": next((slugs[n] for n in o.scenarios if n in slugs), None),
        }
        for o in outcomes
    ]
    meta: Mapping[str, JSONValue] = report.get("meta") or {}
    html_text = (
        _environment()
        .get_template(TEMPLATE_NAME)
        .render(
            title="stackdrill report",
            generated_at=report.get("generated_at", ""),
            # Structured meta (topology, node map) stays in report.json; the header shows scalars.
            meta=[(str(k), _meta_value(v)) for k, v in meta.items() if not isinstance(v, (dict, list))],
            run=run_verdict(outcomes, interrupted=report.get("verdict") == INTERRUPTED),
            tests=test_views,
            summary=report.get("summary") or {},
            spof=list(report.get("spof") or []),
            scenarios=views,
            baseline=report.get("baseline"),
            colors=COLORS,
            bucket_s=bucket_s,
        )
    )
    html_path = out / "report.html"
    html_path.write_text(html_text, encoding="utf-8")
    return html_path


def write_report(
    results: Sequence[ScenarioResult],
    out_dir: Path | str,
    meta: Mapping[str, JSONValue],
    *,
    tests: Sequence[Outcome] | None = None,
    interrupted: bool = False,
    spof: Sequence[str] = (),
    bucket_s: float = DEFAULT_BUCKET_S,
) -> tuple[Path, Path]:
    """Write `report.json` and `report.html` into `out_dir`; return their paths.

    `tests` are the outcomes of every test the run started (see `failover_tests.outcomes`);
    the run's verdict is theirs. Without them, each scenario stands for one test.
    """
    out = Path(out_dir)
    analysed = _analyse(results, bucket_s)
    report = _document(analysed, meta, tests=tests, interrupted=interrupted, spof=spof, bucket_s=bucket_s)
    json_path = write_report_json(report, out)
    html_path = _render(analysed, report, out, bucket_s)
    log.info(
        "report written: %s and %s (%d tests, %d scenarios, %s)",
        json_path,
        html_path,
        len(tests) if tests is not None else len(results),
        len(results),
        report["verdict"],
    )
    return json_path, html_path


def _meta_value(value: JSONValue) -> str:
    """A metadata value as display text."""
    if isinstance(value, str):
        return value
    return json.dumps(value)
