"""Does the order of a user's items lift EASE? SLIST (Choi et al., WWW 2021) beside the
`ease` recall source, scored as the backtest scores a night (NDCG@10 of the items a user
the shop knew touched first in the `--step-days` after the night, seen items excluded).

EASE learns which items go together (X ~ XB); SLIT learns which items come next: every
prefix of a user's time-ordered items, its latest `--window` items weighing exp(-r /
delta) (r: steps back), predicts the next `--window` items, weighing exp(-r / delta) (r:
steps ahead): T ~ SB. SLIST fits both at once, weight alpha on EASE's term, with EASE's
zero diagonal:
    P = (alpha X'X + (1 - alpha) S'S + lambda I)^-1,  B = P R - P diag(diag(P R) / diag(P)),
    R = alpha X'X + (1 - alpha) S'T
(alpha 1 is EASE's closed form). A user is scored with their latest items weighing
1 / (1 + r / 20), as the `ease` source weighs them. Pandas and numpy on the whole log, on
the `--max-items` most popular items (as the source's `ease_max_items`); a bench, not the
product.

    PYTHONPATH=lib python bench/sequence.py eval-out/data/ml-100k/ml-100k.inter --run-date 1998-04-15
    PYTHONPATH=lib python bench/sequence.py ../shared/data/ml-latest-small/ratings.csv --sep , \
        --run-date 2018-08-25 --nights 12 --step-days 30
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from blend_bound import arguments, ndcg, read_log
from scipy import sparse

ALPHAS = (1.0, 0.75, 0.5, 0.25, 0.0)


def pairs(seqs: list[np.ndarray], n: int, window: int, delta: float) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """(S, T): one row per split of each sequence, the items before it (latest weighing
    most) and the items after it (soonest weighing most), `window` each way."""
    decay = np.exp(-np.arange(window) / delta)
    rows_s, cols_s, w_s, rows_t, cols_t, w_t = [], [], [], [], [], []
    row = 0
    for seq in seqs:
        for k in range(1, len(seq)):
            before = seq[max(0, k - window):k][::-1]
            after = seq[k:k + window]
            rows_s.append(np.full(len(before), row))
            cols_s.append(before)
            w_s.append(decay[:len(before)])
            rows_t.append(np.full(len(after), row))
            cols_t.append(after)
            w_t.append(decay[:len(after)])
            row += 1
    s = sparse.csr_matrix((np.concatenate(w_s), (np.concatenate(rows_s), np.concatenate(cols_s))), shape=(row, n))
    t = sparse.csr_matrix((np.concatenate(w_t), (np.concatenate(rows_t), np.concatenate(cols_t))), shape=(row, n))
    return s, t


def slist(xtx: np.ndarray, sts: np.ndarray, stt: np.ndarray, alpha: float, lam: float) -> np.ndarray:
    """SLIST's B with a zero diagonal (EASE at alpha 1)."""
    g = alpha * xtx + (1 - alpha) * sts
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = p @ (alpha * xtx + (1 - alpha) * stt)
    b -= p * (np.diag(b) / np.diag(p))  # the diagonal's Lagrange multipliers: column j by gamma_j
    b[np.diag_indices_from(b)] = 0.0
    return b


def night(log: pd.DataFrame, t: pd.Timestamp, horizon: pd.Timedelta, a) -> list[dict]:
    past, nxt = log[log.t < t], log[(log.t >= t) & (log.t < t + horizon)]
    top = past.j.value_counts().index[:a.max_items]
    idx = pd.Series(np.arange(len(top)), index=top)
    n = len(top)
    kept = past[past.j.isin(top)].assign(k=lambda d: idx[d.j].to_numpy())
    last = kept.groupby(["u", "k"]).t.max().reset_index().sort_values(["u", "t", "k"])
    seqs = [g.k.to_numpy() for _, g in last.groupby("u")]  # each user's items in the order first... last touched
    users = {u: r for r, u in enumerate(last.u.unique())}
    x = sparse.csr_matrix((np.ones(len(last)), (last.u.map(users), last.k)), shape=(len(users), n))
    s, tt = pairs(seqs, n, a.window, a.delta)
    xtx, sts, stt = (m.toarray() for m in (x.T @ x, s.T @ s, s.T @ tt))
    models = {alpha: slist(xtx, sts, stt, alpha, a.ease_lambda) for alpha in ALPHAS}
    seen = past.groupby("u").j.apply(set)
    by_user = dict(tuple(last.groupby("u")))
    out = []
    for u, got in nxt[nxt.u.isin(by_user)].groupby("u").j.apply(set).items():
        truth = got - seen[u]
        if not truth:
            continue
        had = by_user[u].k.to_numpy()[::-1]  # latest first
        w = 1 / (1 + np.arange(len(had)) / 20)
        known = idx.reindex(list(seen[u])).dropna().astype(int).to_numpy()
        row = {"t": t}
        for alpha, b in models.items():
            sc = w @ b[had]
            sc[known] = -np.inf
            row[alpha] = ndcg([top[j] for j in np.argsort(-sc, kind="stable")[:10]], truth)
        out.append(row)
    return out


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--window", type=int, default=10, help="items before and after each split")
    ap.add_argument("--delta", type=float, default=3.0, help="steps over which a pair's weight falls by e")
    ap.add_argument("--max-items", type=int, default=5000)
    a = ap.parse_args()
    log = read_log(a.ratings, a.sep)
    step = pd.Timedelta(days=a.step_days)
    rows = []
    for k in range(a.nights):
        t0 = time.time()
        got = night(log, pd.Timestamp(a.run_date) - k * step, step, a)
        rows += got
        d = pd.DataFrame(got)
        print(f"night {pd.Timestamp(a.run_date) - k * step:%F}: {len(d)} users, "
              + ", ".join(f"alpha {al:g} {d[al].mean():.4f}" for al in ALPHAS) + f" ({time.time() - t0:.0f} s)",
              flush=True)
    d = pd.DataFrame(rows)
    print(f"{len(d)} scored users over {a.nights} nights; NDCG@10 by SLIST's alpha (1: EASE, 0: SLIT):")
    for al in ALPHAS:
        print(f"alpha {al:<5g} {d[al].mean():.4f} ({d[al].mean() / d[1.0].mean():.3f}x EASE)")


if __name__ == "__main__":
    main()
