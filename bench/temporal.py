"""Does an item-item model that knows *when* things were taken beat both the chart and
EASE? On a rating log, scored as the backtest scores a night (NDCG@10 of the items a
user the shop knew rated first in the `--step-days` after the night, seen items
excluded), every model scoring a user's items weighed as the `ease` source weighs them
(the r-th most recent 1 / (1 + r / 20)):

- `chart`: the 30-day chart reaching back to 10,000 events (`popular_30d` as shipped);
- `ease`: EASE on binary pairs (the `ease` source);
- `ease gram h`: EASE on a Gram matrix whose co-occurrences weigh by the pairs' ages
  (half-lives in days, in events counted back from the latest, and `14 d to n ev`: 14
  days stretched until they hold n events, the `ease` source's rule);
- with `--more`, also: `ease target h` (below), floors under old pairs' weights, and
  `rp3b b`: RP3beta (Paudel et al. 2016), the three-step random walk with items' scores
  divided by popularity^b. `ease target h` is EASE fit to predict the pairs weighed by
  their age from binary ones (B = P X'Y - P diag(mu), mu chosen so diag(B) = 0).

Pandas and numpy on the whole log, as `blend_bound.py`; a bench, not the product.

    PYTHONPATH=lib python bench/temporal.py eval-out/data/ml-100k/ml-100k.inter --run-date 1998-04-15
    PYTHONPATH=lib python bench/temporal.py ../shared/data/ml-latest-small/ratings.csv --sep , \
        --run-date 2018-08-25 --nights 12 --step-days 30
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from blend_bound import arguments, chart, each_night, ndcg, read_log, versus_best

from shoprank.baselines import ease

MAX_ITEMS = 5000
HALF_LIVES = (14, 30, 90)  # days
EVENTS = (5_000, 10_000)  # half-lives in events, counted back from the latest
STRETCH = (5_000, 10_000)  # 14 days stretched until they hold this many events (the source's rule)
FLOORS = (0.1, 0.3)  # --more: an old pair's weight never falls below this
BETAS = (0.3, 0.5, 0.7)  # --more: RP3beta's popularity exponents


def ease_target(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """EASE's B fit to predict y from x, with a zero diagonal."""
    g = (x.T @ x).astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = p @ (x.T @ y).astype(np.float64)
    return b - p * (np.diag(b) / np.diag(p))


def rp3beta(x: np.ndarray, beta: float) -> np.ndarray:
    """Item-to-item transition probabilities of the walk item -> user -> item, each
    column divided by the item's popularity^beta."""
    pop = x.sum(axis=0)
    p_iu = x.T / np.maximum(pop, 1)[:, None]
    p_ui = x / np.maximum(x.sum(axis=1), 1)[:, None]
    w = (p_iu @ p_ui) / np.maximum(pop, 1)[None, :] ** beta
    w[np.diag_indices_from(w)] = 0.0
    return w


def models(past: pd.DataFrame, t: pd.Timestamp, users: dict, n_items: int, lam: float,
           more: bool) -> dict[str, np.ndarray]:
    """Each model's item-item matrix, over the MAX_ITEMS items most users took (as the
    source's `ease_max_items`), zero elsewhere."""
    kept = past.j.value_counts().index[:MAX_ITEMS].to_numpy()
    col = np.full(n_items, -1)
    col[kept] = np.arange(len(kept))
    past = past[col[past.j.to_numpy()] >= 0]
    rows, cols = past.u.map(users).to_numpy(), col[past.j.to_numpy()]
    age = ((t - past.t).dt.total_seconds() / 86_400).to_numpy()
    events = past.t.rank(ascending=False, method="first").to_numpy() - 1  # 0: the latest
    x = np.zeros((len(users), len(kept)), np.float32)
    x[rows, cols] = 1
    weighed = {f"{h} d": 0.5 ** (age / h) for h in HALF_LIVES} | {f"{n} ev": 0.5 ** (events / n) for n in EVENTS}
    for n in STRETCH:  # the half-life stretched until it holds n events, as the charts' window
        weighed[f"14 d to {n} ev"] = 0.5 ** (age / max(14.0, float(np.sort(age)[min(n, len(age)) - 1])))
    if more:
        weighed |= {f"{h} d, floor {f}": f + (1 - f) * 0.5 ** (age / h) for h in (14, 90) for f in FLOORS}
    out = {"ease": ease.weights(x.T @ x, lam)}
    for name, a in weighed.items():
        w = np.zeros_like(x)
        w[rows, cols] = a
        if more and name in {f"{h} d" for h in HALF_LIVES}:
            out[f"ease target {name}"] = ease_target(x, w, lam)
        out[f"ease gram {name}"] = ease.weights(np.sqrt(w).T @ np.sqrt(w), lam * float(a.mean()))
    if more:
        out |= {f"rp3b {b}": rp3beta(x, b) for b in BETAS}
    full = {}
    for name, b in out.items():
        f = np.zeros((n_items, n_items), np.float32)
        f[np.ix_(kept, kept)] = b
        full[name] = f
    return full


def night(log: pd.DataFrame, n_items: int, t: pd.Timestamp, horizon: pd.Timedelta, lam: float,
          more: bool = False) -> list[dict]:
    past, nxt = log[log.t < t], log[(log.t >= t) & (log.t < t + horizon)]
    past = past.sort_values("t").drop_duplicates(["u", "j"], keep="last")
    users = {u: k for k, u in enumerate(sorted(past.u.unique()))}
    mats = models(past, t, users, n_items, lam, more)
    ranked = chart(past, t, 30, 10_000)
    by_user = dict(tuple(past.sort_values(["u", "t", "j"], ascending=[True, False, True]).groupby("u")))
    out = []
    for u, got in nxt[nxt.u.isin(by_user)].groupby("u").j.apply(set).items():
        had = by_user[u]
        known = had.j.to_numpy()
        truth = got - set(known)
        if not truth:
            continue
        listed = [j for j in ranked if j not in set(known)]
        row = {"t": t, "history": len(known), "chart": ndcg(listed[:10], truth)}
        weight = 1 / (1 + np.arange(len(known)) / 20)
        for name, b in mats.items():
            s = weight @ b[known]
            s[known] = -np.inf
            row[name] = ndcg(list(np.argsort(-s, kind="stable")[:10]), truth)
        out.append(row)
    return out


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--more", action="store_true", help="also EASE fit to aged targets, floors, RP3beta")
    a = ap.parse_args()
    versus_best(each_night(a, read_log(a.ratings, a.sep), partial(night, more=a.more)), a.nights, ("t", "history"))


if __name__ == "__main__":
    main()
