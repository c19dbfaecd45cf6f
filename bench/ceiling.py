"""How high any list could score on a replayed backtest night: what is reachable at all,
and, on the generated shop, the best possible list.

Reachable: the share of the night's truth pairs (new items each scored user interacted
with in the horizon) whose item anyone had interacted with before the night, and at
least 3 users. A list built from past interactions cannot rank an item nobody has
touched (only text similarity could, where items have text), so the first share bounds
every recall source and baseline: 20% of next items means recall@N below 0.2 for all.

Oracle (`--oracle`, generated data only): `shoprank generate` draws every session from
a known model: a category by the user's preferences, a price band (the user's own 75% of
the time), then an item of that group by popularity. Ranked by that probability, a user's unseen sellable items are the list
no recommender can beat in expectation (the chance that an item shows up among the next
items grows with it). This script rebuilds the model from the same config and seed,
reads one replayed backtest night from `<warehouse>/_backtest` (local path), scores that
list and shoprank's published list against the same truth as `evaluation` (new items in
the horizon, users the shop knew) and prints both NDCG@k, their paired difference and,
with `--baseline-ndcg` (the backtest's best baseline, same users), each ratio to it.

    python bench/ceiling.py --conf conf/taobao.toml --set storage.warehouse=/tmp/tbJ/wh \
        --night 2017-12-02 --horizon-days 1
    python bench/ceiling.py --conf /tmp/scale/scale.toml --night 2026-11-19 --horizon-days 2 \
        --oracle --baseline-ndcg 0.1600

A benchmark, not the product: it reads one night's tables into pandas.
"""

from __future__ import annotations

import argparse
import datetime as dt

import numpy as np
import pandas as pd
from deltalake import DeltaTable

from shoprank import generate as gen
from shoprank.config import load_config
from shoprank.night import Windows
from shoprank.storage import fs


def preference(cfg) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """(items, their price band, users' category preferences [U, C], users' bands):
    the generator's draws, replayed with its seed in its order."""
    rng = np.random.default_rng(cfg.seed)
    items = gen._items(cfg, rng)
    pref, band, _ = gen._users(cfg, rng)
    edges = np.quantile(items["log_price"], np.linspace(0, 1, gen.PRICE_BANDS + 1)[1:-1])
    return items, np.digitize(items["log_price"], edges), pref, band


def ndcg(lists: dict[str, list[str]], truth: pd.Series, k: int) -> np.ndarray:
    """Per-user NDCG@k (as `metrics.per_user`) over the users in `truth` (user -> items)."""
    out = []
    for user, rel in truth.items():
        dcg = sum(1 / np.log2(r + 2) for r, i in enumerate(lists.get(user, [])[:k]) if i in rel)
        out.append(dcg / sum(1 / np.log2(r + 2) for r in range(min(len(rel), k))))
    return np.asarray(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conf", required=True, help="the config the shop was generated and backtested with")
    ap.add_argument("--night", type=dt.date.fromisoformat, required=True, help="a replayed night")
    ap.add_argument("--horizon-days", type=int, required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--oracle", action="store_true", help="generated data: score the generator's own model")
    ap.add_argument("--baseline-ndcg", type=float, help="the backtest's best baseline on this night")
    args = ap.parse_args()
    cfg = load_config(args.conf, args.overrides)
    k, root = cfg.score.top_k, fs.join(fs.absolute(cfg.storage.warehouse), "_backtest")

    def table(name: str) -> pd.DataFrame:
        return DeltaTable(fs.join(root, name)).to_pandas()

    events = table("interactions")
    history = events[events.run_date == args.night]
    end = pd.Timestamp(Windows.for_run(args.night, cfg.validation.horizon_days).end)
    later = events[(events.ts >= end) & (events.ts < end + pd.Timedelta(days=args.horizon_days))]
    if cfg.evaluate.relevant_actions:
        later = later[later.action.isin(cfg.evaluate.relevant_actions)]
    seen = history.groupby("user_id").item_id.agg(set)
    pairs = later[["user_id", "item_id"]].drop_duplicates()
    pairs = pairs[pairs.user_id.isin(seen.index)]
    pairs = pairs[[i not in seen[u] for u, i in zip(pairs.user_id, pairs.item_id, strict=True)]]
    truth = pairs.groupby("user_id").item_id.agg(set)
    users_before = history.groupby("item_id").user_id.nunique().reindex(pairs.item_id).fillna(0).to_numpy()
    print(f"night {args.night}, horizon {args.horizon_days} days: {len(truth)} users scored, {len(pairs)} new "
          f"(user, item) pairs; their item was touched before the night by anyone: {(users_before >= 1).mean():.3f}, "
          f"by 3 or more users: {(users_before >= 3).mean():.3f}")
    if not args.oracle:
        return

    recs = table("recommendations")
    recs = recs[recs.run_date == args.night].sort_values(["user_id", "rank"])
    shoprank = ndcg(recs.groupby("user_id").item_id.agg(list).to_dict(), truth, k)

    items, band_of, pref, band = preference(cfg.generate)
    catalogue = table("items")
    sellable = set(catalogue[(catalogue.run_date == args.night) & catalogue.active].item_id)
    ids, cat = items.item_id.to_numpy(), items.cat_idx.to_numpy()
    pop = items.popularity.to_numpy()
    within = pop / pd.Series(pop).groupby(cat * gen.PRICE_BANDS + band_of).transform("sum").to_numpy()
    index = {i: n for n, i in enumerate(ids)}
    closed = ~np.isin(ids, list(sellable))
    lists = {}
    for user in truth.index:
        u = int(user[1:])
        p = pref[u, cat] * np.where(band_of == band[u], 0.75 + 0.25 / gen.PRICE_BANDS, 0.25 / gen.PRICE_BANDS) * within
        p[closed] = -1.0
        p[[index[i] for i in seen[user] if i in index]] = -1.0
        lists[user] = list(ids[np.argsort(-p, kind="stable")[:k]])
    oracle = ndcg(lists, truth, k)

    d = shoprank - oracle
    print(f"NDCG@{k}: oracle (the generator's own model) {oracle.mean():.4f}, shoprank {shoprank.mean():.4f}; "
          f"shoprank - oracle {d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f} (standard error, paired)")
    if args.baseline_ndcg:
        print(f"over the best baseline ({args.baseline_ndcg:.4f}): oracle {oracle.mean() / args.baseline_ndcg:.3f}x, "
              f"shoprank {shoprank.mean() / args.baseline_ndcg:.3f}x")
    print(f"oracle_over_baseline={oracle.mean() / args.baseline_ndcg if args.baseline_ndcg else float('nan'):.3f}")


if __name__ == "__main__":
    main()
