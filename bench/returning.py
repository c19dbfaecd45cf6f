"""Does the chart of return visits beat the chart of every event? Lists go to users the shop
knows, and what they take next is a return visit; the chart counts first visits too, which
lead it on a log that grows fast. Scored as the backtest scores a night (NDCG@10 of the
items a user the shop knew took first in the `--step-days` after the night, seen items
excluded), mean over the nights (the backtest's figure) and over the users:

- `chart`, `ease`: the 30-day chart (to 10,000 events) and EASE with the `ease` source's
  recency weights (the r-th most recent item 1 / (1 + r / 20));
- `returning`: the chart counting only events taken over a day after their user's first
  (the `returning` source); `returning slot`: only events whose user had one before the
  step-long slot (aligned to the night) they fall in, as the backtest picks its users;
- `stage s`: every event of the chart's window weighing exp(-d^2 / 2 s^2), d the difference
  of log(1 + events before it) of its user and log(1 + events) of the scored user;
- `rrf a+ease`: reciprocal-rank fusion of the two lists (each list's top 200).

Pandas and numpy on the whole log, as `blend_bound.py`; a bench, not the product.

    PYTHONPATH=lib python bench/returning.py eval-out/data/ml-100k/ml-100k.inter --run-date 1998-04-15
    PYTHONPATH=lib python bench/returning.py ../shared/data/ml-latest-small/ratings.csv --sep , \\
        --run-date 2018-08-25 --nights 12 --step-days 30
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from blend_bound import arguments, each_night, ndcg, read_log
from neighbours import ranked

from shoprank.baselines import ease

SIGMAS = (0.5, 1.0, 2.0)
FUSED = ("chart", "returning", "returning slot", "stage 1.0")


def counts(items: pd.Series, n_items: int) -> np.ndarray:
    return np.bincount(items.to_numpy(), minlength=n_items).astype(np.float64)


def night(log: pd.DataFrame, n_items: int, t: pd.Timestamp, horizon: pd.Timedelta, lam: float) -> list[dict]:
    past, nxt = log[log.t < t], log[(log.t >= t) & (log.t < t + horizon)]
    past = past.sort_values("t").drop_duplicates(["u", "j"], keep="last").copy()
    start = t - pd.Timedelta(days=30)
    if (past.t >= start).sum() < 10_000:
        start = past.t.nlargest(10_000).min()
    past["before"] = past.groupby("u").cumcount()
    first = past.groupby("u").t.transform("min")
    win, first = past[past.t >= start], first[past.t >= start]
    slot = t - ((t - win.t) // horizon + 1) * horizon
    charts = {"chart": counts(win.j, n_items), "returning": counts(win.j[win.t - first > pd.Timedelta(days=1)], n_items),
              "returning slot": counts(win.j[first < slot], n_items)}
    users = {u: k for k, u in enumerate(sorted(past.u.unique()))}
    x = np.zeros((len(users), n_items), np.float32)
    x[past.u.map(users).to_numpy(), past.j.to_numpy()] = 1
    b = ease.weights(x.T @ x, lam)
    by_user = dict(tuple(past.sort_values(["u", "t", "j"], ascending=[True, False, True]).groupby("u")))
    taker = np.log1p(win.before.to_numpy())
    out = []
    for u, got in nxt[nxt.u.isin(by_user)].groupby("u").j.apply(set).items():
        known = by_user[u].j.to_numpy()
        truth = got - set(known)
        if not truth:
            continue
        weight = 1 / (1 + np.arange(len(known)) / 20)
        lists = {name: ranked(c, known, 200) for name, c in charts.items()} | {"ease": ranked(weight @ b[known], known, 200)}
        for s in SIGMAS:
            near = np.exp(-0.5 * ((taker - np.log1p(len(known))) / s) ** 2)
            lists[f"stage {s}"] = ranked(np.bincount(win.j.to_numpy(), near, n_items), known, 200)
        for name in FUSED:
            f = np.zeros(n_items)
            for part in (name, "ease"):
                f[lists[part]] += 1 / np.arange(1, len(lists[part]) + 1)
            lists[f"rrf {name}+ease"] = ranked(f, known, 200)
        out.append({"t": t} | {name: ndcg(list(s[:10]), truth) for name, s in lists.items()})
    return out


def main() -> None:
    a = arguments(__doc__).parse_args()
    d = each_night(a, read_log(a.ratings, a.sep), night)
    nights = d.groupby("t").mean()
    best = max(nights.chart.mean(), nights.ease.mean())
    print(f"{len(d)} scored users over {a.nights} nights; NDCG@10 mean over nights (ratio to the better of chart "
          "and EASE), mean over users:")
    for c in nights.columns:
        print(f"{c:<22} {nights[c].mean():.4f} ({nights[c].mean() / best:.3f}x)  {d[c].mean():.4f}")


if __name__ == "__main__":
    main()
