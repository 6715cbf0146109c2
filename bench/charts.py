"""PNG charts of a results payload: one per scenario (both sides' samples and medians, or
its curve) and an overview of every scenario's ratio against its goal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

BASELINE_COLOR = "#9e9e9e"
OPTIMIZED_COLOR = "#1f77b4"
MISSED_COLOR = "#d62728"


def write_charts(payload: dict[str, Any], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.png"):
        stale.unlink()
    written = [overview_chart(payload, directory / "overview.png")]
    for record in payload["scenarios"]:
        path = directory / f"{record['id']}.png"
        if record.get("curve"):
            curve_chart(record, path)
        else:
            sides_chart(record, path)
        written.append(path)
    return written


def overview_chart(payload: dict[str, Any], path: Path) -> Path:
    records = payload["scenarios"]
    figure, axes = plt.subplots(figsize=(8, 0.4 * len(records) + 1.2))
    names = [r["id"] for r in records]
    ratios = [r["ratio"] for r in records]
    colors = [OPTIMIZED_COLOR if r["passed"] else MISSED_COLOR for r in records]
    axes.barh(names, ratios, color=colors)
    axes.axvline(1, color="black", linewidth=0.8)
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axes.invert_yaxis()
    axes.set_xlabel("optimized vs baseline (x, log scale; red: goal not met)")
    for y, ratio in enumerate(ratios):
        axes.annotate(
            f"{ratio:.2f}x",
            (ratio, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    axes.set_title(f"make bench ({payload['mode']} mode, {payload['scale_orders']:,} orders)")
    return save(figure, path)


def sides_chart(record: dict[str, Any], path: Path) -> Path:
    figure, axes = plt.subplots(figsize=(6, 2.6))
    labels = [record["baseline"], record["optimized"]]
    medians = [record["baseline_median"], record["optimized_median"]]
    axes.barh(labels, medians, color=[BASELINE_COLOR, OPTIMIZED_COLOR])
    for y, side in enumerate(("baseline", "optimized")):
        samples = record.get("samples", {}).get(side, [])
        axes.plot(samples, [y] * len(samples), "k|", markersize=12)
    axes.invert_yaxis()
    axes.set_xlabel(f"{record['unit']} (bars: medians; ticks: runs)")
    axes.set_title(f"{record['title']}\n{record['ratio']:.2f}x; goal {record['goal']}", fontsize=9)
    return save(figure, path)


def curve_chart(record: dict[str, Any], path: Path) -> Path:
    curve = record["curve"]
    x_name, y_names = curve["x"], curve["y"]
    points = curve["points"]
    figure, first = plt.subplots(figsize=(6, 3))
    axes = [first, first.twinx()][: len(y_names)]
    for axis, y_name, color in zip(axes, y_names, (OPTIMIZED_COLOR, "#ff7f0e"), strict=False):
        axis.plot([p[x_name] for p in points], [p[y_name] for p in points], "o-", color=color)
        axis.set_ylabel(y_name, color=color)
    if curve.get("chosen") is not None:
        first.axvline(curve["chosen"], color="black", linestyle="--", linewidth=0.8)
        first.annotate(
            "default",
            (curve["chosen"], 0.95),
            xycoords=("data", "axes fraction"),
            xytext=(3, 0),
            textcoords="offset points",
            fontsize=8,
        )
    if curve.get("log_x", True):
        first.set_xscale("log")
    first.set_xlabel(x_name)
    first.set_title(record["title"], fontsize=9)
    return save(figure, path)


def save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
