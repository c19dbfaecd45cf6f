"""How should the `category_popular` source mix the charts of a user's top categories? Each
of the user's three top categories (by action-weighted share of their events) gives its
chart of the charts' window (30 days, or back to the 10,000th latest event), read down to
the 50th item the user never had, as the source reads it; the rules below order the
union, scored as the backtest scores a source alone (NDCG@10 of the first 10 unseen
items against what a user the shop knew touched first in the `--step-days` after the
night). Rules, by an item's `users` (distinct users in the window), its category's
`category users`, the category's `share` of the user's events and its `place` (1, 2, 3):

- log1p(users) / place: the source before 93e423d;
- share x users / category users: the probability of the item when the user picks a
  category by its share, then an item by its share of the category's users (shipped);
- share x users; users alone (the chart restricted to the user's categories);
- round robin: the categories' first unseen items in place order, then their second, ...

    PYTHONPATH=lib python bench/category_charts.py eval-out/data/ml-100k/ml-100k.inter \
        --items eval-out/data/ml-100k/ml-100k.item --run-date 1998-04-15
    PYTHONPATH=lib python bench/category_charts.py ../shared/data/ml-latest-small/ratings.csv --sep , \
        --items ../shared/data/ml-latest-small/movies.csv --run-date 2018-08-25 --nights 12 --step-days 30
    PYTHONPATH=lib python bench/category_charts.py \
        ../shared/data/taobao-userbehavior-head/UserBehavior.csv --taobao --run-date 2017-12-02 --nights 3 --step-days 1
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from blend_bound import arguments, ndcg

from shoprank.features import ACTION_WEIGHTS

HEAD, TOP, MIN_EVENTS = 50, 3, 10_000
TAOBAO_ACTIONS = {"pv": "view", "fav": "favorite", "cart": "add_to_cart", "buy": "purchase"}


def read(path: str, sep: str, items: str | None, taobao: bool) -> pd.DataFrame:
    """u, i, c (category: a film's first genre), w (action weight), t."""
    if taobao:
        log = pd.read_csv(path, header=None, names=["u", "i", "c", "b", "ts"])
        log["c"], log["w"] = log.c.astype(str), log.b.map(TAOBAO_ACTIONS).map(ACTION_WEIGHTS)
    else:
        log = pd.read_csv(path, sep=sep)
        log.columns = ["u", "i", "r", "ts"]
        films = pd.read_csv(items, sep=sep)
        genres = films.iloc[:, 2] if "genres" in films.columns else films.iloc[:, 3]
        first = genres.astype(str).str.split("|" if "genres" in films.columns else " ").str[0]
        log["c"] = log.i.map(dict(zip(films.iloc[:, 0], first, strict=True))).fillna("unknown")
        # conf/ml100k.toml's and conf/movielens.toml's action maps
        action = np.select([log.r >= 4.5, log.r >= 4, log.r >= 3], ["purchase", "add_to_cart", "click"], "view")
        log["w"] = pd.Series(action, index=log.index).map(ACTION_WEIGHTS)
    log["t"] = pd.to_datetime(log.ts, unit="s")
    return log


def rules(df: pd.DataFrame) -> dict[str, pd.Series]:
    return {"log1p(users) / place (before)": np.log1p(df.users) / df.place,
            "share x users / category users (shipped)": df.share * df.users / df.cat_users,
            "share x users": df.share * df.users,
            "users alone": df.users.astype(float),
            "round robin": -(df.pos * TOP + df.place).astype(float)}


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--items", help="the films' file (MovieLens movies.csv or RecBole's .item)")
    ap.add_argument("--taobao", action="store_true", help="Taobao's UserBehavior.csv (categories in the log)")
    a = ap.parse_args()
    log = read(a.ratings, a.sep, a.items, a.taobao)
    got: dict[str, list[float]] = {}
    for k in range(a.nights):
        t = pd.Timestamp(a.run_date) - k * pd.Timedelta(days=a.step_days)
        past, nxt = log[log.t < t], log[(log.t >= t) & (log.t < t + pd.Timedelta(days=a.step_days))]
        start = min(t - pd.Timedelta(days=30), past.t.nlargest(MIN_EVENTS).min())
        window = past[(past.t >= start) & (past.c != "unknown")]
        charts = (window.groupby(["c", "i"]).u.nunique().rename("users").reset_index()
                  .sort_values(["c", "users", "i"], ascending=[True, False, True]))
        cat_users = window.groupby("c").u.nunique()
        by_cat = dict(tuple(charts.groupby("c")))
        seen = past.groupby("u").i.apply(set)
        weights = past.groupby(["u", "c"]).w.sum()
        for u, g in nxt.groupby("u"):
            truth = set(g.i) - seen.get(u, set())
            if u not in seen.index or not truth:
                continue
            shares = (weights.loc[u] / weights.loc[u].sum()).sort_values(ascending=False, kind="stable")
            rows = [(i, c, place, pos, n, shares[c], cat_users[c])
                    for place, c in enumerate(shares.index[:TOP], start=1) if c in by_cat
                    for pos, (i, n) in enumerate(by_cat[c].loc[~by_cat[c].i.isin(seen[u]), ["i", "users"]]
                                                 .head(HEAD).itertuples(index=False))]
            if not rows:
                continue
            df = pd.DataFrame(rows, columns=["i", "c", "place", "pos", "users", "share", "cat_users"])
            for name, score in rules(df).items():
                order = df.assign(s=score).sort_values(["s", "i"], ascending=[False, True]).i.tolist()
                got.setdefault(name, []).append(ndcg(order, truth))
    for name, v in got.items():
        print(f"{name:42s} NDCG@10 {np.mean(v):.4f} ({len(v)} user-nights)")


if __name__ == "__main__":
    main()
