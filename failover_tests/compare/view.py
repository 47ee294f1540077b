"""compare.html and mutate.html: the JSON documents as pages, self-contained (inline CSS, no script)."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from failover_tests.compare.judge import FIGURE_KINDS

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_NAME = "compare.html.j2"


def _texts(figure: dict[str, Any]) -> dict[str, Any]:
    kind = FIGURE_KINDS[figure["figure"]]
    delta = figure["delta"]
    sign = "+" if delta > 0 else "-" if delta < 0 else ""
    return {
        **figure,
        "base_text": kind.show(figure["base_median"]),
        "candidate_text": kind.show(figure["candidate_median"]),
        "delta_text": f"{sign}{kind.show(abs(delta))}",
        "limit_text": kind.show(figure["limit"]),
    }


def _href(report_dir: str, page: Path) -> str:
    return os.path.relpath(Path(report_dir) / "report.html", page.parent) if report_dir else ""


def _render(template: str, view: dict[str, Any], path: Path) -> Path:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(env.get_template(template).render(doc=view), encoding="utf-8")
    return path


def render_compare_html(doc: dict[str, Any], path: Path) -> Path:
    """Write compare.html for a compare.json document; run reports are linked relative to it."""
    view = copy.deepcopy(doc)
    for run in view["runs"]:
        run["href"] = _href(run["report_dir"], path)
    for scenario in view["scenarios"]:
        scenario["figures"] = [_texts(f) for f in scenario["figures"]]
    return _render(TEMPLATE_NAME, view, path)


def render_mutate_html(doc: dict[str, Any], path: Path) -> Path:
    """Write mutate.html for a mutate.json document; the base's and each mutant's reports are linked."""
    view = copy.deepcopy(doc)
    for base in view["base_runs"]:
        base["href"] = _href(base["report_dir"], path)
    for mutant in view["mutants"]:
        mutant["href"] = _href(mutant["report_dir"], path)
    return _render("mutate.html.j2", view, path)
