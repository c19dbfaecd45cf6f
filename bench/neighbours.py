"""Do the user's nearest neighbours' *recent* items beat both the chart and EASE? The chart
wins on movie logs because what users take next is what is new; EASE knows whose taste is
whose but not what is new. A user-kNN that counts only what the neighbours took in the
charts' window (30 days, reaching back to 10,000 events) would know both. Scored as the
backtest scores a night (NDCG@10 of the items a user the shop knew took first in the
`--step-days` after the night, seen items excluded):

- `chart`, `ease`: the 30-day chart (to 10,000 events) and EASE with the `ease` source's
  recency weights (the r-th most recent item 1 / (1 + r / 20));
- `uknn k`: the k users nearest by cosine over whole histories, each neighbour's items
  weighing its similarity (classic user-kNN; `all`: every user);
- `uknn recent k`: the same neighbours, only their items in the charts' window counted
  (`^p`: every user, the similarity raised to the power p);
- `neighbours`: the `neighbours` source as shipped, `uknn recent all` in item form (an
  items x items matrix, each item's 200 largest weights kept), a user's items weighing as
  in the `ease` source; `unpruned`: every weight kept; `neighbours kept n`: n kept;
  `unpruned idf`: users alike by tf-idf cosine (rarer shared items count more);
  `unpruned 1/|x|^2`: each neighbour's items weighing 1 / |x_v|^2 (heavy users less);
- `rrf a+b`: reciprocal-rank fusion of those lists (each list's top 200);
- `ease in chart n`: EASE's order over the chart's top n items only (a hard gate).

Pandas and numpy on the whole log, as `blend_bound.py`; a bench, not the product.

    PYTHONPATH=lib python bench/neighbours.py eval-out/data/ml-100k/ml-100k.inter --run-date 1998-04-15
    PYTHONPATH=lib python bench/neighbours.py ../shared/data/ml-latest-small/ratings.csv --sep , \
        --run-date 2018-08-25 --nights 12 --step-days 30
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from blend_bound import arguments, chart, each_night, ndcg, read_log, versus_best

from shoprank.baselines import ease

KEPT = (200, 500, 1000, 2000)  # each item's largest weights kept (the source's neighbours_kept)
KS = (20, 100, 0)  # neighbours kept; 0: every user
POWERS = (2, 4, 8)  # every user, similarity raised to this power
GATES = (50, 200)  # the chart's top n items EASE may order
FUSED = (("chart", "ease"), ("neighbours", "ease"), ("chart", "neighbours"), ("chart", "ease", "neighbours"))


def top_k(s: np.ndarray, k: int) -> np.ndarray:
    """`s` with all but each row's k largest entries set to zero."""
    if not k or k >= s.shape[1]:
        return s
    out = np.zeros_like(s)
    keep = np.argpartition(-s, k, axis=1)[:, :k]
    rows = np.arange(s.shape[0])[:, None]
    out[rows, keep] = s[rows, keep]
    return out


def ranked(s: np.ndarray, known: np.ndarray, n: int = 10) -> np.ndarray:
    """The n best items by `s`, the user's own excluded."""
    s = s.astype(np.float64)
    s[known] = -np.inf
    return np.argsort(-s, kind="stable")[:n]


def night(log: pd.DataFrame, n_items: int, t: pd.Timestamp, horizon: pd.Timedelta, lam: float) -> list[dict]:
    past, nxt = log[log.t < t], log[(log.t >= t) & (log.t < t + horizon)]
    past = past.sort_values("t").drop_duplicates(["u", "j"], keep="last")
    users = {u: k for k, u in enumerate(sorted(past.u.unique()))}
    rows = past.u.map(users).to_numpy()
    charted = chart(past, t, 30, 10_000)
    start = t - pd.Timedelta(days=30)  # the charts' window, reaching back as `chart` does
    if (past.t >= start).sum() < 10_000:
        start = past.t.nlargest(10_000).min()
    x = np.zeros((len(users), n_items), np.float32)
    x[rows, past.j.to_numpy()] = 1
    recent = np.zeros_like(x)
    fresh = (past.t >= start).to_numpy()
    recent[rows[fresh], past.j.to_numpy()[fresh]] = 1
    xn = x / np.maximum(np.linalg.norm(x, axis=1), 1e-9)[:, None]
    sim = xn @ xn.T
    np.fill_diagonal(sim, 0.0)
    b = ease.weights(x.T @ x, lam)
    full = xn.T @ recent  # item j -> item i: users who had j and took i lately, each 1 / |x_v|
    np.fill_diagonal(full, 0.0)
    df = x.sum(axis=0)
    idf = np.log((len(users) + 1) / (df + 1)).astype(np.float32)
    xi = x * idf
    xi /= np.maximum(np.linalg.norm(xi, axis=1), 1e-9)[:, None]
    full_idf = xi.T @ recent  # the same, users alike by their rarer items (tf-idf cosine)
    np.fill_diagonal(full_idf, 0.0)
    xs = x / np.maximum(np.linalg.norm(x, axis=1), 1e-9)[:, None] ** 2  # |x_v|^-2: heavy users count less
    full_sq = xs.T @ recent
    np.fill_diagonal(full_sq, 0.0)
    kept = {}
    for n_kept in KEPT:
        kept[n_kept] = np.zeros_like(full)
        r, c, w = ease.pruned(full, n_kept)
        kept[n_kept][r, c] = w
    by_user = dict(tuple(past.sort_values(["u", "t", "j"], ascending=[True, False, True]).groupby("u")))
    targets = list(nxt[nxt.u.isin(by_user)].groupby("u").j.apply(set).items())
    near = {k: top_k(sim[[users[u] for u, _ in targets]], k) for k in KS}
    out = []
    for n, (u, got) in enumerate(targets):
        known = by_user[u].j.to_numpy()
        truth = got - set(known)
        if not truth:
            continue
        weight = 1 / (1 + np.arange(len(known)) / 20)
        listed = np.array([j for j in charted if j not in set(known)], int)
        lists = {"chart": listed, "ease": ranked(weight @ b[known], known, 200),
                 "neighbours": ranked(weight @ kept[200][known], known, 200),
                 "unpruned": ranked(weight @ full[known], known, 200),
                 "unpruned idf": ranked(weight @ full_idf[known], known, 200),
                 "unpruned 1/|x|^2": ranked(weight @ full_sq[known], known, 200)}
        lists |= {f"neighbours kept {n_kept}": ranked(weight @ kept[n_kept][known], known, 200)
                  for n_kept in KEPT if n_kept != 200}
        for k in KS:
            lists[f"uknn {k or 'all'}"] = ranked(near[k][n] @ x, known)
            lists[f"uknn recent {k or 'all'}"] = ranked(near[k][n] @ recent, known)
        lists |= {f"uknn recent ^{p}": ranked(near[0][n] ** p @ recent, known) for p in POWERS}
        for combo in FUSED:
            f = np.zeros(n_items)
            for name in combo:
                f[lists[name]] += 1 / np.arange(1, len(lists[name]) + 1)
            lists["rrf " + "+".join(combo)] = ranked(f, known)
        for g in GATES:
            gate = lists["chart"][:g]
            lists[f"ease in chart {g}"] = gate[np.argsort(-(weight @ b[known])[gate], kind="stable")]
        out.append({"t": t, "history": len(known)} | {name: ndcg(list(s[:10]), truth) for name, s in lists.items()})
    return out


def main() -> None:
    a = arguments(__doc__).parse_args()
    versus_best(each_night(a, read_log(a.ratings, a.sep), night), a.nights, ("t", "history"))


if __name__ == "__main__":
    main()
