"""The report's charts: accuracy against cost per million images (one labelled point per model,
the Pareto front drawn), and throughput per device by model."""
from __future__ import annotations

from ..plotting import new_figure
from .table import Report, display_name

__all__ = ["accuracy_cost_figure", "throughput_figure", "cost_axis"]


def cost_axis(report: Report) -> tuple[str, str]:
    """(column, axis label) of the cost: money when a price is given, else device-hours."""
    price = report.criteria.gpu_hour_price
    if price is not None:
        return "cost_per_million", f"cost per million images (at {price:g} per {report.unit}-hour)"
    return "device_hours_per_million", f"{report.unit}-hours per million images"


def accuracy_cost_figure(report: Report):
    column, label = cost_axis(report)
    t = report.table
    points = t[t["AP"].notna() & t[column].notna()]
    fig, ax = new_figure()
    ax.set(xlabel=label, ylabel="AP (COCO AP@[.50:.95])", title="Accuracy against cost, per model")
    if points.empty:
        ax.text(0.5, 0.5, "no model has both an AP and a throughput", ha="center", va="center",
                transform=ax.transAxes)
        return fig
    ax.scatter(points[column], points["AP"], s=36, color="tab:blue", zorder=3, label="model")
    for _, row in points.iterrows():
        ax.annotate(display_name(row["model"]), (row[column], row["AP"]), textcoords="offset points", xytext=(5, 5))
    front = points[points["pareto"]].sort_values(column)
    ax.plot(front[column], front["AP"], color="tab:orange", marker="o", markersize=9, zorder=2, label="Pareto front")
    if report.selected in set(points["model"]):
        chosen = points[points["model"] == report.selected]
        ax.scatter(chosen[column], chosen["AP"], s=160, facecolors="none", edgecolors="tab:red", zorder=4,
                   label=f"selected: {display_name(report.selected)}")
    if report.criteria.budget_per_million is not None and column == "cost_per_million":
        ax.axvline(report.criteria.budget_per_million, color="tab:red", linestyle="--", label="budget")
    if points[column].max() > 10 * points[column].min():
        ax.set_xscale("log")
    ax.margins(0.1)  # room for the labels of the corner points
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def throughput_figure(report: Report):
    t = report.table[report.table["images_per_second"].notna()]
    fig, ax = new_figure()
    ax.set(xlabel="model", ylabel=f"images/s per {report.unit}", title="Throughput by model")
    colors = ["tab:red" if m == report.selected else "tab:blue" for m in t["model"]]
    bars = ax.bar([display_name(m) for m in t["model"]], t["images_per_second"], color=colors)
    ax.bar_label(bars, fmt="%.3g")
    ax.margins(y=0.15)  # room for the bar labels
    if report.criteria.min_images_per_second is not None:
        ax.axhline(report.criteria.min_images_per_second, color="tab:red", linestyle="--",
                   label="required images/s")
        ax.legend(loc="best")
    ax.grid(alpha=0.3, axis="y")
    return fig
