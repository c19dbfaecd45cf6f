"""Per-run data report: one HTML page with PNG charts beside it, rendered into a
local scratch directory and published to the artifact store.

Only small aggregates reach the driver (action counts, top categories,
quarantine reasons, profile metrics), never rows.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from shoprank.config import ACTIONS  # noqa: E402
from shoprank.storage import fs  # noqa: E402


@dataclass(frozen=True)
class DataReport:
    run_date: dt.date
    counts: dict[str, dict[str, int]]
    action_counts: dict[str, int]
    top_categories: list[tuple[str, int]]
    reasons: list[tuple[str, str, int]]
    profile: dict[str, float]
    previous: dict[str, float] | None
    breaches: list


def _bar(path: Path, labels: list[str], values: list[float], title: str, color: str = "#3b6ea8") -> str:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.barh(labels[::-1], values[::-1], color=color)
    ax.set_title(title)
    for i, v in enumerate(values[::-1]):
        ax.text(v, i, f" {v:,.0f}" if v >= 1 else f" {v:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def render(report: DataReport, out: Path) -> Path:
    """The report page and its charts, written into the local directory `out`."""
    run_date, counts, action_counts = report.run_date, report.counts, report.action_counts
    top_categories, reasons, profile = report.top_categories, report.reasons, report.profile
    previous, breaches = report.previous, report.breaches
    charts = []
    for source, c in counts.items():
        charts.append(_bar(out / f"counts_{source}.png", ["input", "accepted", "quarantined", "duplicates"],
                           [c["input_rows"], c["accepted"], c["quarantined"], c["duplicates"]],
                           f"{source}: rows by outcome"))
    charts.append(_bar(out / "funnel.png", list(ACTIONS), [action_counts.get(a, 0) for a in ACTIONS],
                       "action funnel", "#d0823a"))
    if top_categories:
        charts.append(_bar(out / "categories.png", [c for c, _ in top_categories],
                           [n for _, n in top_categories], "top categories (events)", "#4a9a5b"))
    if reasons:
        charts.append(_bar(out / "quarantine.png", [f"{s}:{r}" for s, r, _ in reasons],
                           [n for *_, n in reasons], "quarantine reasons", "#b04040"))
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td><td>{'' if not previous or k not in previous else f'{previous[k]:.4g}'}</td></tr>"
        for k, v in sorted(profile.items()))
    gate = ("<p style='color:#080'>quality gate: passed</p>" if not breaches else
            "<p style='color:#b00'>quality gate breaches: " + html.escape(
                "; ".join(f"{m}={v:.4g} not in [{lo:.4g}, {hi:.4g}]" for m, lo, hi, v in breaches)) + "</p>")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>shoprank data report {run_date}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px}}</style>
</head><body><h1>shoprank data report, run date {run_date}</h1>{gate}
{''.join(f'<img src="{c}" alt="{c}">' for c in charts)}
<h2>Profile against the previous run</h2><table><tr><th>metric</th><th>this run</th><th>previous</th></tr>{rows}</table>
</body></html>"""
    path = out / "report.html"
    path.write_text(page)
    return path


def _publish(render_page, location: str) -> str:
    """Render a page and its charts in a scratch directory, then replace `location` with
    them (any artifact-store location); return the page's location."""
    scratch = fs.scratch_dir("report")
    try:
        page = render_page(scratch)
        fs.delete(location)
        fs.put(scratch, location)
    finally:
        fs.remove_scratch(scratch)
    return fs.join(location, page.name)


def publish(report: DataReport, location: str) -> str:
    return _publish(lambda out: render(report, out), location)


# ------------------------------------------------------------------ quality
@dataclass(frozen=True)
class QualityReport:
    """What users get: published lists beside baselines, recall per source, coverage and
    diversity, and their trend over nights."""

    title: str
    k: int
    models: dict[str, dict[str, float]]  # model -> metric -> mean value (all scored users)
    candidate_recall: dict[str, float]  # "candidates" and each source -> share of next items held
    trend: dict[str, list[tuple[dt.date, float]]]  # model -> (night, NDCG) in night order
    notes: tuple[str, ...] = ()

    @classmethod
    def from_rows(cls, title: str, k: int, rows: list[tuple[dt.date, str, str, float | None]],
                  notes: tuple[str, ...] = ()) -> QualityReport:
        """From (night, model, metric, value) rows of the "all" segment."""
        by_model: dict[str, dict[str, list[float]]] = {}
        trend: dict[str, dict[dt.date, float]] = {}
        recall: dict[str, list[float]] = {}
        for night, model, metric, value in rows:
            if value is None:
                continue
            if metric == "candidate_recall":
                recall.setdefault(model, []).append(value)
                continue
            by_model.setdefault(model, {}).setdefault(metric, []).append(value)
            if metric == "ndcg":
                trend.setdefault(model, {})[night] = value
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        return cls(title, k, {m: {k_: mean(v) for k_, v in ms.items()} for m, ms in by_model.items()},
                   {m: mean(v) for m, v in recall.items()}, {m: sorted(t.items()) for m, t in trend.items()}, notes)

    @classmethod
    def from_backtest(cls, dataset: str, last: dt.date, horizon_days: int, rows: list[tuple], k: int):
        """From BACKTEST rows."""
        picked = [(r[1], r[3], r[5], r[7]) for r in rows if r[4] == "all"]
        return cls.from_rows(f"shoprank backtest, {dataset}, nights up to {last}, horizon {horizon_days} days", k,
                             picked)


def _trend(path: Path, trend: dict[str, list[tuple[dt.date, float]]], title: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for model, points in sorted(trend.items()):
        if points:
            ax.plot([d for d, _ in points], [v for _, v in points], marker="o",
                    linewidth=2.5 if model == "shoprank" else 1, label=model)
    ax.set_title(title)
    ax.legend(fontsize=7, loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def render_quality(report: QualityReport, out: Path) -> Path:
    k = report.k
    by_ndcg = sorted(report.models, key=lambda m: -report.models[m].get("ndcg", 0.0))

    def bars(name: str, metric: str, title: str, color: str) -> str:
        return _bar(out / name, by_ndcg, [report.models[m].get(metric, 0.0) for m in by_ndcg], title, color)

    charts = [bars("ndcg.png", "ndcg", f"NDCG@{k}: published lists and baselines", "#3b6ea8"),
              bars("hr.png", "hr", f"HR@{k}", "#5b8ec8"),
              bars("coverage.png", "coverage", "catalogue coverage", "#4a9a5b"),
              bars("diversity.png", "diversity", "intra-list category diversity", "#d0823a")]
    if report.candidate_recall:
        names = sorted(report.candidate_recall, key=lambda m: -report.candidate_recall[m])
        charts.append(_bar(out / "recall.png", names, [report.candidate_recall[m] for m in names],
                           "candidate recall: share of next items held", "#8a5bb0"))
    if any(len(points) > 1 for points in report.trend.values()):
        charts.append(_trend(out / "trend.png", report.trend, f"NDCG@{k} per night"))
    metrics = ["ndcg", "hr", "recall", "precision", "map", "coverage", "diversity", "novelty"]
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    body = "".join(
        f"<tr><td>{'<b>' + html.escape(m) + '</b>' if m == 'shoprank' else html.escape(m)}</td>"
        + "".join(f"<td>{report.models[m].get(x, float('nan')):.4f}</td>" for x in metrics) + "</tr>"
        for m in by_ndcg)
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in report.notes)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(report.title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px}}</style>
</head><body><h1>{html.escape(report.title)}</h1>
<p>Lists as published (or as each baseline would have published them) scored against what users did next:
full ranking, items a user already had excluded, a user without a list counts as a miss; mean over nights.</p>
{notes}<table><tr><th>model</th>{head}</tr>{body}</table>
{''.join(f'<img src="{c}" alt="{c}">' for c in charts)}
</body></html>"""
    path = out / "quality.html"
    path.write_text(page)
    return path


def publish_quality(report: QualityReport, location: str) -> str:
    return _publish(lambda out: render_quality(report, out), location)
