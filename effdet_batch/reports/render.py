"""The model-selection report as files: report.md, report.html (with the same sample images under
each model, given the runs), report.json and two PNG charts."""
from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ..pipeline.summary import RunSummary
from ..plotting import png_bytes
from ..views.page import write_files
from .charts import accuracy_cost_figure, throughput_figure
from .samples import sample_section
from .table import Report, display_name

__all__ = ["CHARTS", "display_table", "markdown", "html_page", "as_json", "write_report"]

CHARTS = {"accuracy_vs_cost.png": "Accuracy against cost per million images",
          "throughput.png": "Throughput by model"}


def _fmt(value: Any, spec: str, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:{spec}}{suffix}"


def display_table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells, shared by the Markdown and the HTML."""
    unit = report.unit
    headers = ["model", "AP", "AP50", "published COCO AP (%)", f"images/s per {unit}", "start-up s / run",
               f"{unit}-hours / 1M images", "cost / 1M images", "batch latency p50 / p95 ms", "batch size",
               "peak memory", "params", "MACs", "measured on", "Pareto"]
    cells = []
    for row in report.table.to_dict("records"):
        name = display_name(row["model"])
        latency = _fmt(row["batch_latency_ms_p50"], ".1f", f" / {_fmt(row['batch_latency_ms_p95'], '.1f')}")
        measured = ", ".join(str(v) for v in (row["device_name"], row["precision"], row["throughput_from"]) if v)
        cells.append([
            f"**{name}** (selected)" if row["model"] == report.selected else name,
            _fmt(row["AP"], ".4f"),
            _fmt(row["AP50"], ".4f"),
            _fmt(row["published_coco_ap"], ".1f"),
            _fmt(row["images_per_second"], ".2f"),
            _fmt(row["startup_seconds"], ".1f"),
            _fmt(row["device_hours_per_million"], ".3f"),
            _fmt(row["cost_per_million"], ".2f"),
            latency,
            _fmt(row["batch_size"], ".0f"),  # a float column when a model has no benchmark (NaN)
            _fmt(row["peak_memory_bytes"] and row["peak_memory_bytes"] / 2**30, ".2f", " GiB"),
            _fmt(row["params"] / 1e6, ".2f", " M"),
            _fmt(row["macs"] / 1e9, ".2f", " G"),
            measured,
            "yes" if row["pareto"] else "",
        ])
    return headers, cells


def _summary(report: Report) -> list[str]:
    """The selection and the criteria, as sentences."""
    c = report.criteria
    wanted = []
    if c.budget_per_million is not None:
        wanted.append(f"cost at most {c.budget_per_million:g} per million images")
    if c.min_images_per_second is not None:
        wanted.append(f"at least {c.min_images_per_second:g} images/s per {report.unit}")
    price = (f"Priced at {c.gpu_hour_price:g} per {report.unit}-hour." if c.gpu_hour_price is not None
             else "No price given (--gpu-hour-price): costs are in device-hours.")
    front = ", ".join(display_name(m) for m in report.table.loc[report.table["pareto"], "model"]) or "none"
    lines = [price, f"Pareto-optimal (accuracy against cost): {front}."]
    if wanted and report.selected:
        lines.append(f"Most accurate model with {' and '.join(wanted)}: **{display_name(report.selected)}**.")
    elif wanted:
        lines.append(f"No model has {' and '.join(wanted)} (and a measured AP).")
    return lines + report.notes


def markdown(report: Report) -> str:
    headers, cells = display_table(report)
    lines = ["# EfficientDet model selection", "", *(f"- {s}" for s in _summary(report)), "",
             "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    lines.append("")
    if report.plan:
        lines += [_plan_title(report), "", *(f"- {line}" for line in report.plan.lines), ""]
    lines += [f"![{title}]({name})" for name, title in CHARTS.items()]
    return "\n".join(lines) + "\n"


def _plan_title(report: Report) -> str:
    return (f"## Capacity plan: {report.plan.images_per_night:,} images per night "
            f"within {report.plan.night_hours:g} hours")


def _bold(text: str) -> str:
    """Markdown's **x** as <strong>, on already escaped text."""
    parts = text.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


def html_page(report: Report, samples: str = "") -> str:
    """The report as one page; `samples`: the sample images' section (HTML), after the charts."""
    headers, cells = display_table(report)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_bold(html.escape(c))}</td>" for c in row) + "</tr>\n" for row in cells)
    items = "".join(f"<li>{_bold(html.escape(s))}</li>" for s in _summary(report))
    plan = (f"<h2>{html.escape(_plan_title(report)[3:])}</h2><ul>"
            + "".join(f"<li>{html.escape(line)}</li>" for line in report.plan.lines) + "</ul>\n"
            if report.plan else "")
    charts = "".join(f'<figure><img src="{n}" alt="{html.escape(t)}"><figcaption>{html.escape(t)}</figcaption>'
                     "</figure>" for n, t in CHARTS.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>EfficientDet model selection</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}} td:first-child{{text-align:left}}
figure{{display:inline-block;margin:1em}}</style></head>
<body>
<h1>EfficientDet model selection</h1>
<ul>{items}</ul>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{body}</tbody>
</table>
{plan}{charts}
{samples}
</body>
</html>
"""


def as_json(report: Report) -> dict[str, Any]:
    table = report.table.astype(object).where(report.table.notna(), None)
    return {"device": report.device, "criteria": vars(report.criteria), "selected": report.selected,
            "notes": report.notes, "models": table.to_dict("records"),
            "capacity_plan": asdict(report.plan) if report.plan else None}


def write_report(report: Report, output: str, runs: Sequence[RunSummary] = ()) -> list[str]:
    """Write the report's files under `output` (a folder or URI); returns their URIs. With the
    `runs`, report.html shows the same sample images under each model (thumbnails beside it)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(output)
    fs.makedirs(root, exist_ok=True)
    samples, thumbnails = sample_section(runs, list(report.table["model"])) if runs else ("", {})
    files = {
        "report.md": markdown(report).encode(),
        "report.html": html_page(report, samples).encode(),
        "report.json": json.dumps(as_json(report), indent=1).encode(),
        "accuracy_vs_cost.png": png_bytes(accuracy_cost_figure(report)),
        "throughput.png": png_bytes(throughput_figure(report)),
    }
    write_files(output, thumbnails)
    return write_files(output, files)
