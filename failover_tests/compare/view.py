"""compare.html: the compare.json document side by side, self-contained (inline CSS, no script)."""

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


def render_compare_html(doc: dict[str, Any], path: Path) -> Path:
    """Write compare.html for a compare.json document; run reports are linked relative to it."""
    view = copy.deepcopy(doc)
    for run in view["runs"]:
        report = Path(run["report_dir"]) / "report.html"
        run["href"] = os.path.relpath(report, path.parent)
    for scenario in view["scenarios"]:
        scenario["figures"] = [_texts(f) for f in scenario["figures"]]
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(env.get_template(TEMPLATE_NAME).render(doc=view), encoding="utf-8")
    return path
