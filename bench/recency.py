"""Does weighing a user's recent items more lift EASE? The `ease` recall source's user
weights compared on a rating log, scored as the backtest scores a night (NDCG@10 of the
items a user the shop knew rated first in the `--step-days` after the night, seen items
excluded): every item alike (Steck's EASE, the `ease` baseline), the r-th most recently
touched weighing 1 / (1 + r / n) (the source's `ease_recent_items` = n), and weights
halving every d days. The model is fit on binary pairs in every case. Pandas and numpy
on the whole log, as `blend_bound.py`; a bench, not the product.

    PYTHONPATH=lib python bench/recency.py eval-out/data/ml-100k/ml-100k.inter --run-date 1998-04-15
    PYTHONPATH=lib python bench/recency.py ../shared/data/ml-latest-small/ratings.csv --sep , \
        --run-date 2018-08-25 --nights 12 --step-days 30
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from blend_bound import arguments, each_night, ndcg, read_log

from shoprank.baselines import ease

RANKS = (5, 10, 20, 50, 100)  # ease_recent_items
DAYS = (7, 30, 90, 365)  # half-lives in days


def variants(order_age_days: np.ndarray) -> dict[str, np.ndarray]:
    """A user's item weights, items ordered latest first, by each rule."""
    r = np.arange(len(order_age_days))
    out = {"binary": np.ones(len(r))}
    out |= {f"1/(1+r/{n})": 1 / (1 + r / n) for n in RANKS}
    out |= {f"half every {d} d": 0.5 ** (order_age_days / d) for d in DAYS}
    return out


def night(log: pd.DataFrame, n_items: int, t: pd.Timestamp, horizon: pd.Timedelta, lam: float) -> list[dict]:
    past, nxt = log[log.t < t], log[(log.t >= t) & (log.t < t + horizon)]
    last = past.groupby(["u", "j"]).t.max().reset_index().sort_values(["u", "t", "j"], ascending=[True, False, True])
    users = {u: k for k, u in enumerate(sorted(last.u.unique()))}
    x = np.zeros((len(users), n_items), np.float32)
    x[last.u.map(users), last.j] = 1
    b = ease.weights(x.T @ x, lam)
    by_user = dict(tuple(last.groupby("u")))
    out = []
    for u, got in nxt[nxt.u.isin(by_user)].groupby("u").j.apply(set).items():
        had = by_user[u]
        truth = got - set(had.j)
        if not truth:
            continue
        row = {}
        for name, w in variants(((t - had.t).dt.total_seconds() / 86_400).to_numpy()).items():
            s = w @ b[had.j.to_numpy()]
            s[had.j.to_numpy()] = -np.inf
            row[name] = ndcg(list(np.argsort(-s, kind="stable")[:10]), truth)
        out.append(row)
    return out


def main() -> None:
    a = arguments(__doc__).parse_args()
    d = each_night(a, read_log(a.ratings, a.sep), night)
    print(f"{len(d)} scored users over {a.nights} nights; EASE's NDCG@10 by the weight of a user's items:")
    for name in d.columns:
        print(f"{name:18s} {d[name].mean():.4f} ({d[name].mean() / d['binary'].mean():.3f}x binary)")


if __name__ == "__main__":
    main()
