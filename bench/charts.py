"""How long should a popularity chart's window be? The chart of the last D days and of
the last N events, each scored as the backtest scores a night (NDCG@10 of the items a
user the shop knew touched first in the `--step-days` after the night, seen items
excluded), beside the rule the recall sources follow: `popular_days` (30), reaching back
to the N-th latest event when those days hold fewer (`popular_min_events`). Also: a
decayed chart (each user's latest touch of an item weighing 0.5 ** (age / half-life)),
and that rule's chart with the items new in the last D days (first taken then) first.
Last, the shipped chart as the `popular` source served it before 37be4d3 (its first
`--head` items for everyone, the user's own then removed) against now (down to the
`--head`-th item the user never had), with how many of the head scored users had had.

    PYTHONPATH=lib python bench/charts.py eval-out/data/ml-100k/ml-100k.inter --run-date 1998-04-15
    PYTHONPATH=lib python bench/charts.py ../shared/data/ml-latest-small/ratings.csv --sep , \
        --run-date 2018-08-25 --nights 12 --step-days 30
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from blend_bound import arguments, chart, ndcg, read_log

DAYS = (7, 30, 90, 365, 10**5)
EVENTS = (1_000, 2_000, 5_000, 10_000, 20_000)
HALF_LIVES = (3, 7, 14, 30, 90)  # days
NEW_DAYS = (30, 90, 365)  # an item first taken this recently is new


def decayed(past: pd.DataFrame, t: pd.Timestamp, half_life: float) -> pd.Index:
    """Items by their users' latest events, each weighing 0.5 ** (age / half_life days)."""
    latest = past.groupby(["u", "j"]).t.max()
    age = (t - latest).dt.total_seconds().to_numpy() / 86400
    weight = pd.Series(0.5 ** (age / half_life), index=latest.index.get_level_values("j"))
    return weight.groupby(level=0).sum().sort_values(ascending=False, kind="stable").index


def new_first(past: pd.DataFrame, t: pd.Timestamp, days: int, ranked: pd.Index) -> pd.Index:
    """`ranked` with the items first taken in the `days` before `t` moved to the front."""
    first = past.groupby("j").t.min()
    new = ranked.isin(first[first >= t - pd.Timedelta(days=days)].index)
    return ranked[new].append(ranked[~new])


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--head", type=int, default=50, help="candidates per source (`candidates.per_source`)")
    a = ap.parse_args()
    log = read_log(a.ratings, a.sep).sort_values("ts", kind="stable")
    step = pd.Timedelta(days=a.step_days)
    got: dict[str, list[float]] = {}
    had: list[int] = []  # of the shipped chart's head, per scored user
    for k in range(a.nights):
        t = pd.Timestamp(a.run_date) - k * step
        past, nxt = log[log.t < t], log[(log.t >= t) & (log.t < t + step)]
        seen = past.groupby("u").j.apply(set)
        charts = {f"last {d} days": chart(past, t, d) for d in DAYS}
        charts |= {f"last {n} events": past.tail(n).j.value_counts().index for n in EVENTS}
        charts |= {f"30 days, >= {n} events": chart(past, t, 30, n) for n in EVENTS}
        charts |= {f"half-life {h} days": decayed(past, t, h) for h in HALF_LIVES}
        charts |= {f"new in {d} days first": new_first(past, t, d, charts["30 days, >= 10000 events"])
                   for d in NEW_DAYS}
        print(f"night {t:%F}: {(past.t >= t - pd.Timedelta(days=30)).sum()} events in the 30 days before")
        for u, items in nxt[nxt.u.isin(seen.index)].groupby("u").j.apply(set).items():
            truth = items - seen[u]
            if truth:
                for name, ranked in charts.items():
                    got.setdefault(name, []).append(ndcg([j for j in ranked[:500] if j not in seen[u]][:10], truth))
                head = charts["30 days, >= 10000 events"][:a.head]
                had.append(sum(j in seen[u] for j in head))
                got.setdefault(f"that chart's first {a.head} only", []).append(
                    ndcg([j for j in head if j not in seen[u]][:10], truth))
    for name, v in got.items():
        print(f"{name:<24} {np.mean(v):.4f} ({len(v)} users)")
    print(f"scored users had had {np.mean(had):.1f} of the shipped chart's first {a.head} items on average "
          f"(median {np.median(had):.0f}; {np.mean(np.array(had) > a.head - 10):.0%} more than {a.head - 10})")


if __name__ == "__main__":
    main()
