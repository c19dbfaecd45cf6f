"""Do users who follow the chart take the chart, and the others EASE? A per-user gate
between the two strongest signals on a rating log, scored as `blend_bound.py` scores them.

Each user's chart affinity before a night: the share of their latest `--recent` items
that stood in the top `--top` of the 30-day chart on the day they took them (point in
time: the chart of the 30 days before that day). Users are binned by that share, and the
blend weight (score = a / EASE rank + (1 - a) / chart rank) is picked per bin, once on
the very nights it is scored on (in sample, a bound) and once on the `--fit-weeks`
nights before each (as a night would choose it). History-length segments, which
`blend_bound.py` tried, reached 1.11x and 1.05x the better list in sample.

    PYTHONPATH=lib python bench/follower.py eval-out/data/ml-100k/ml-100k.inter --run-date 1998-04-15
    PYTHONPATH=lib python bench/follower.py ../shared/data/ml-latest-small/ratings.csv --sep , \
        --run-date 2018-08-25 --nights 12 --step-days 30
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from blend_bound import WEIGHTS, arguments, night, per_bin, read_log


def chart_rank(log: pd.DataFrame) -> np.ndarray:
    """Per row: the item's rank in the chart of the 30 days before the row's day (1 best;
    items nobody took in those days rank after all that were)."""
    day = (log.t.dt.normalize() - log.t.min().normalize()).dt.days.to_numpy()
    counts = np.zeros((day.max() + 2, log.j.max() + 1), np.float32)
    np.add.at(counts, (day + 1, log.j.to_numpy()), 1)
    cum = np.cumsum(counts, axis=0)  # row d: every day before day d
    before = cum.copy()
    before[30:] -= cum[:-30]  # row d: days d-30 .. d-1
    ranks = np.empty(len(log))
    for s in range(0, len(log), 2000):
        d, j = day[s:s + 2000], log.j.to_numpy()[s:s + 2000]
        window = before[d]
        ranks[s:s + 2000] = (window > window[np.arange(len(d)), j][:, None]).sum(axis=1) + 1
    return ranks


def affinity(log: pd.DataFrame, t: pd.Timestamp, recent: int, top: int) -> pd.Series:
    """Per user with history before `t`: the share of their latest `recent` items that were
    in the chart's top `top` when taken."""
    past = log[log.t < t].sort_values("ts", kind="stable")
    latest = past.groupby("u").tail(recent)
    return (latest.chart_rank <= top).groupby(latest.u).mean()


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--fit-weeks", type=int, default=4)
    ap.add_argument("--recent", type=int, default=20)
    ap.add_argument("--top", type=int, default=50)
    ap.add_argument("--bins", default="0.1,0.3,0.6", help="affinity bounds")
    a = ap.parse_args()
    log = read_log(a.ratings, a.sep)
    log["chart_rank"] = chart_rank(log)
    step = pd.Timedelta(days=a.step_days)
    nights = [pd.Timestamp(a.run_date) - k * step for k in range(a.nights + a.fit_weeks)]
    rows = []
    for t in nights:
        share = affinity(log, t, a.recent, a.top)
        rows += [r | {"affinity": share[r["user"]]} for r in night(log, log.j.max() + 1, t, step, a.ease_lambda)]
    d = pd.DataFrame(rows)
    bounds = [-0.01, *map(float, a.bins.split(",")), 1.01]
    by = pd.cut(d.affinity, bounds)
    scored = d[d.t > nights[a.nights]]
    best = max(scored[0.0].mean(), scored[1.0].mean())
    print(f"{len(scored)} scored users over {a.nights} nights; NDCG@10 of the chart {scored[0.0].mean():.4f}, "
          f"of EASE {scored[1.0].mean():.4f}; ratios below are to the better of the two")
    table = scored.groupby(by[scored.index], observed=True)[list(WEIGHTS)].mean()
    table.insert(0, "users", scored.groupby(by[scored.index], observed=True).size())
    print("NDCG@10 per affinity bin (rows) and blend weight a (columns; 0: the chart, 1: EASE):")
    print(table.round(4).to_string())
    inside, before = per_bin(d, by, nights, a.nights, a.fit_weeks)
    print(f"weight per bin: in sample {inside:.4f} ({inside / best:.3f}x); chosen on the {a.fit_weeks} nights "
          f"before {before:.4f} ({before / best:.3f}x)")

if __name__ == "__main__":
    main()
