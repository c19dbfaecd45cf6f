"""Per-run data report: one HTML page with PNG charts beside it.

Only small aggregates reach the driver (action counts, top categories,
quarantine reasons, profile metrics), never rows.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from shoprank.config import ACTIONS  # noqa: E402


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


def write_report(out_dir: str | Path, run_date: dt.date, counts: dict[str, dict[str, int]],
                 action_counts: dict[str, int], top_categories: list[tuple[str, int]],
                 reasons: list[tuple[str, str, int]], profile: dict[str, float],
                 previous: dict[str, float] | None, breaches: list) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
