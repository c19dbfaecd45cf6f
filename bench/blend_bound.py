"""How far two strong signals reach on a rating log: blends of the 30-day popularity chart
and EASE, per user-activity segment, scored as the backtest scores a night (NDCG@10 of
the items a user the shop knew rated first in the week after the night, seen items
excluded). A bound for what fusing these sources can give, not the product: it reads the
whole log into pandas and fits EASE in numpy.

For each night, each user and each blend weight a (score = a / EASE rank + (1 - a) /
chart rank): the user's NDCG. Printed: every weight's mean over the scored nights, as a ratio to the better of
the two lists alone; the best
weight per segment of history length chosen on the very nights it is scored on (in sample:
an upper bound for a fusion that weighs sources per segment); and chosen on the
`--fit-weeks` nights before each scored one (out of sample, as a night would choose it).

    PYTHONPATH=lib python bench/blend_bound.py eval-out/data/ml-100k/ml-100k.inter --run-date 1998-04-15
    PYTHONPATH=lib python bench/blend_bound.py ../shared/data/ml-latest-small/ratings.csv --sep , \
        --run-date 2018-08-25 --nights 12 --step-days 30
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from shoprank.baselines import ease

WEIGHTS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.75, 1.0)


def ndcg(ranked, truth: set, k: int = 10) -> float:
    gain = sum(1 / np.log2(p + 2) for p, x in enumerate(ranked[:k]) if x in truth)
    return gain / sum(1 / np.log2(p + 2) for p in range(min(k, len(truth))))


def chart(past: pd.DataFrame, t: pd.Timestamp, days: int = 30, min_events: int = 0) -> pd.Index:
    """Items by how often they were taken in the `days` before `t`, the window reaching
    back further when it holds fewer than `min_events` events."""
    start = t - pd.Timedelta(days=days)
    if min_events and (past.t >= start).sum() < min_events:
        start = past.t.nlargest(min_events).min()
    return past[past.t >= start].j.value_counts().index


def night(log: pd.DataFrame, n_items: int, t: pd.Timestamp, horizon: pd.Timedelta, lam: float,
          chart_events: int = 0) -> list[dict]:
    """Per scored user of the night at `t`: history length and NDCG@10 of each blend."""
    past, nxt = log[log.t < t], log[(log.t >= t) & (log.t < t + horizon)]
    seen = past.groupby("u").j.apply(set)
    ranked = chart(past, t, 30, chart_events)
    users = {u: k for k, u in enumerate(sorted(past.u.unique()))}
    x = np.zeros((len(users), n_items), np.float32)
    x[past.u.map(users), past.j] = 1
    b = ease.weights(x.T @ x, lam)  # the `ease` baseline's and source's closed form
    out = []
    for u, got in nxt[nxt.u.isin(seen.index)].groupby("u").j.apply(set).items():
        truth = got - seen[u]
        if not truth:
            continue
        known = list(seen[u])
        e = x[users[u]] @ b
        e[known] = -np.inf
        e_rank = np.empty(n_items)
        e_rank[np.argsort(-e)] = np.arange(1, n_items + 1)
        c_rank = np.full(n_items, np.inf)
        listed = [j for j in ranked if j not in seen[u]]
        c_rank[listed] = np.arange(1, len(listed) + 1)
        row = {"t": t, "user": u, "history": len(known)}
        for a in WEIGHTS:
            s = a / e_rank + (1 - a) / c_rank
            s[known] = -np.inf
            row[a] = ndcg(list(np.argsort(-s, kind="stable")[:10]), truth)
        out.append(row)
    return out


def per_bin(d: pd.DataFrame, by: pd.Series, nights: list, scored: int, fit_weeks: int) -> tuple[float, float]:
    """Mean NDCG over the first `scored` nights with the blend weight picked per bin of
    users `by`: on those very nights (in sample), and on the `fit_weeks` nights before each."""
    test = d[d.t > nights[scored]]
    per = test.groupby(by[test.index], observed=True)[list(WEIGHTS)].mean()
    inside = (test.groupby(by[test.index], observed=True).size() * per.max(axis=1)).sum() / len(test)
    picked = []
    for k, t in enumerate(nights[:scored]):
        fit = d[d.t.isin(nights[k + 1:k + 1 + fit_weeks])]
        choice = fit.groupby(by[fit.index], observed=True)[list(WEIGHTS)].mean().idxmax(axis=1)
        night = d[d.t == t]
        picked += [row[choice.get(s, 0.0)] for s, (_, row) in zip(by[night.index], night.iterrows(), strict=True)]
    return inside, float(np.mean(picked))


def arguments(doc: str) -> argparse.ArgumentParser:
    """The rating log and the nights, as the benches on it take them."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("ratings", help="user, item, rating, timestamp (seconds) with a header: RecBole's .inter, "
                    "or MovieLens's ratings.csv with --sep ,")
    ap.add_argument("--sep", default="\t")
    ap.add_argument("--run-date", required=True, help="the last night, YYYY-MM-DD")
    ap.add_argument("--nights", type=int, default=6)
    ap.add_argument("--step-days", type=int, default=7)
    ap.add_argument("--ease-lambda", type=float, default=500.0)
    ap.add_argument("--chart-events", type=int, default=0,
                    help="the 30-day chart reaches back until it holds this many events (0: 30 days)")
    return ap


def each_night(a: argparse.Namespace, log: pd.DataFrame, night_fn) -> pd.DataFrame:
    """`night_fn(log, n_items, t, horizon, lam)`'s rows over the `--nights` nights."""
    step = pd.Timedelta(days=a.step_days)
    return pd.DataFrame([r for k in range(a.nights)
                         for r in night_fn(log, log.j.max() + 1, pd.Timestamp(a.run_date) - k * step, step,
                                           a.ease_lambda)])


def versus_best(d: pd.DataFrame, nights: int, skip: tuple[str, ...]) -> None:
    """Prints each column's mean NDCG@10 and its ratio to the better of `chart` and `ease`."""
    best = max(d.chart.mean(), d.ease.mean())
    print(f"{len(d)} scored users over {nights} nights; NDCG@10 (ratio to the better of chart and EASE):")
    for c in (c for c in d.columns if c not in skip):
        print(f"{c:<18} {d[c].mean():.4f} ({d[c].mean() / best:.3f}x)")


def read_log(path: str, sep: str) -> pd.DataFrame:
    """u, i, r, ts, t (time), j (the item's dense index)."""
    log = pd.read_csv(path, sep=sep)
    log.columns = ["u", "i", "r", "ts"]
    log["t"] = pd.to_datetime(log.ts, unit="s")
    log["j"] = log.i.astype("category").cat.codes
    return log


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--fit-weeks", type=int, default=4)
    ap.add_argument("--segments", default="50,100,200", help="history-length bounds")
    a = ap.parse_args()
    log = read_log(a.ratings, a.sep)
    step = pd.Timedelta(days=a.step_days)
    nights = [pd.Timestamp(a.run_date) - k * step for k in range(a.nights + a.fit_weeks)]
    d = pd.DataFrame([r for t in nights for r in night(log, log.j.max() + 1, t, step, a.ease_lambda,
                                                               a.chart_events)])
    bounds = [0, *map(int, a.segments.split(",")), 10**9]
    d["segment"] = pd.cut(d.history, bounds)
    scored = d[d.t > nights[a.nights]]
    best = max(scored[0.0].mean(), scored[1.0].mean())  # the better list alone: the baseline to beat
    print(f"{len(scored)} scored users over {a.nights} nights; NDCG@10 of the chart {scored[0.0].mean():.4f}, "
          f"of EASE {scored[1.0].mean():.4f}; ratios below are to the better of the two")
    for w in WEIGHTS:
        print(f"blend a={w:<5}: {scored[w].mean():.4f} ({scored[w].mean() / best:.3f}x)")
    for name, seg in (("one segment", [0, 10**9]), (f"segments {a.segments}", bounds)):
        inside, before = per_bin(d, pd.cut(d.history, seg), nights, a.nights, a.fit_weeks)
        print(f"{name}: best weight in sample {inside:.4f} ({inside / best:.3f}x); chosen on the "
              f"{a.fit_weeks} nights before {before:.4f} ({before / best:.3f}x)")


if __name__ == "__main__":
    main()
