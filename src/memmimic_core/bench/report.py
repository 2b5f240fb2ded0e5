"""Render a :class:`~memmimic_core.bench.quality.QualityReport`: text table, JSON, plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .metrics import METRICS

if TYPE_CHECKING:
    from .quality import QualityReport

__all__ = ["category_table", "markdown_tables", "overall_table", "write_json", "write_plot"]

_HEADERS = ("R@1", "R@5", "R@10", "any@10", "MRR@10", "nDCG@10")


def _row(name: str, values: dict[str, float]) -> str:
    cells = " | ".join(f"{values[m]:.3f}" for m in METRICS)
    return f"| {name} | {cells} |"


def overall_table(report: QualityReport) -> str:
    """A Markdown table: one row per preset, every metric over all questions, plus latency."""
    lines = [
        "| preset | " + " | ".join(_HEADERS) + " | recall p50 ms | p95 ms |",
        "|---" * (len(_HEADERS) + 3) + "|",
    ]
    for result in report.results:
        lat = result.latency_ms
        lines.append(_row(result.name, result.metrics["all"]) + f" {lat['p50']:.1f} | {lat['p95']:.1f} |")
    return "\n".join(lines)


def category_table(report: QualityReport, metric: str = "recall@10") -> str:
    """A Markdown table of one metric per preset and category (with question counts)."""
    groups = sorted({g for r in report.results for g in r.metrics if g != "all"}, key=lambda g: (len(g), g))
    counts = {
        g: int(next(r.metrics[g]["questions"] for r in report.results if g in r.metrics)) for g in groups
    }
    names = [f"{g} {report.categories.get(g, '')} (n={counts[g]})".replace("  ", " ") for g in groups]
    lines = [f"| {metric} | " + " | ".join(names) + " | all |", "|---" * (len(groups) + 2) + "|"]
    for result in report.results:
        cells = " | ".join(f"{result.metrics[g][metric]:.3f}" if g in result.metrics else "-" for g in groups)
        lines.append(f"| {result.name} | {cells} | {result.metrics['all'][metric]:.3f} |")
    return "\n".join(lines)


def markdown_tables(report: QualityReport) -> str:
    """The overall table followed by per-category recall@10, nDCG@10 and MRR@10 tables."""
    parts = [overall_table(report)]
    for metric in ("recall@10", "ndcg@10", "mrr@10"):
        parts.append(category_table(report, metric))
    return "\n\n".join(parts)


def write_json(report: QualityReport, path: str | Path) -> None:
    """Write the report as indented JSON."""
    Path(path).write_text(json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")


def write_plot(report: QualityReport, path: str | Path) -> None:
    """Write a grouped bar chart of recall@10 per category and overall, one bar per preset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = ["all", *sorted({g for r in report.results for g in r.metrics if g != "all"})]
    labels = [g if g == "all" else f"{g} {report.categories.get(g, '')}".strip() for g in groups]
    n = max(1, len(report.results))
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(8.0, 1.4 * len(groups) + 0.25 * n), 4.8))
    for i, result in enumerate(report.results):
        values = [result.metrics.get(g, {}).get("recall@10", 0.0) for g in groups]
        xs = [x + (i - (n - 1) / 2) * width for x in range(len(groups))]
        ax.bar(xs, values, width, label=result.name)
    ax.set_xticks(range(len(groups)), labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("recall@10")
    title = Path(report.dataset).name or "benchmark"
    ax.set_title(f"Recall@10 per LoCoMo category ({title}, {report.questions} questions)")
    ax.legend(fontsize="small", ncol=min(4, n))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(str(path), dpi=120)
    plt.close(fig)
