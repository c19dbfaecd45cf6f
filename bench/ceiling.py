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

Fusions (`--fusions N`): every reciprocal-rank fusion (equal weights) of up to N of the
recall sources, over the candidates the night stored (after its exclusions, as served),
scored against the same truth, each a mean over the nights given; printed: the published
list, each source alone and the best fusions of each size, chosen in hindsight on the
very users they are scored on. No rule choosing one fusion for those nights without
hindsight can beat the best of them, so it bounds what choosing which sources to fuse
can give over the stored candidates (the ranker's other features aside).

    python bench/ceiling.py --conf conf/ml100k.toml --set storage.warehouse=/tmp/ml100k/wh \
        --night 1998-03-11 1998-03-18 1998-03-25 1998-04-01 1998-04-08 1998-04-15 --horizon-days 7 --fusions 11

A benchmark, not the product: it reads one night's tables into pandas.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools

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


def fusions(cands: pd.DataFrame, truth: pd.Series, k: int, most: int) -> pd.Series:
    """NDCG@k (mean over the users in `truth`) of the equal-weight reciprocal-rank fusion
    of every subset of up to `most` sources, over `cands` (user_id, item_id, source_ranks)."""
    ranks = pd.DataFrame([dict(r) for r in cands.source_ranks], index=cands.index)
    ranks = ranks[sorted(ranks.columns)]  # a subset's name alike on every night
    inv = (1.0 / ranks).fillna(0.0).to_numpy()
    users = pd.Categorical(cands.user_id, categories=truth.index)
    code = users.codes  # -1: a user without truth
    hit = np.array([u in truth.index and i in truth[u] for u, i in zip(cands.user_id, cands.item_id, strict=True)])
    ideal = np.array([sum(1 / np.log2(r + 2) for r in range(min(len(t), k))) for t in truth])
    out = {}
    for n in range(1, most + 1):
        for subset in itertools.combinations(range(inv.shape[1]), n):
            score = inv[:, subset].sum(axis=1)
            order = np.lexsort((-score, code))
            order = order[score[order] > 0]  # a candidate none of the subset found is not listed
            c = code[order]
            pos = np.arange(len(c)) - np.searchsorted(c, c)  # place within the user's list
            keep = (c >= 0) & (pos < k) & hit[order]
            dcg = np.bincount(c[keep], 1 / np.log2(pos[keep] + 2), minlength=len(truth))
            out["+".join(ranks.columns[j] for j in subset)] = (dcg / ideal).mean()
    return pd.Series(out)


def night_truth(events: pd.DataFrame, cfg, night: dt.date, horizon_days: int) -> tuple[pd.Series, pd.Series]:
    """(seen, truth): each user's items in the night's history and the new items each user
    the shop knew touched in the horizon, as `evaluation` defines them (user -> set)."""
    history = events[events.run_date == night]
    end = pd.Timestamp(Windows.for_run(night, cfg.validation.horizon_days).end)
    later = events[(events.ts >= end) & (events.ts < end + pd.Timedelta(days=horizon_days))]
    if cfg.evaluate.relevant_actions:
        later = later[later.action.isin(cfg.evaluate.relevant_actions)]
    seen = history.groupby("user_id").item_id.agg(set)
    pairs = later[["user_id", "item_id"]].drop_duplicates()
    pairs = pairs[pairs.user_id.isin(seen.index)]
    pairs = pairs[[i not in seen[u] for u, i in zip(pairs.user_id, pairs.item_id, strict=True)]]
    users_before = history.groupby("item_id").user_id.nunique().reindex(pairs.item_id).fillna(0).to_numpy()
    print(f"night {night}, horizon {horizon_days} days: {pairs.user_id.nunique()} users scored, {len(pairs)} new "
          f"(user, item) pairs; their item was touched before the night by anyone: {(users_before >= 1).mean():.3f}, "
          f"by 3 or more users: {(users_before >= 3).mean():.3f}")
    return seen, pairs.groupby("user_id").item_id.agg(set)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conf", required=True, help="the config the shop was generated and backtested with")
    ap.add_argument("--night", type=dt.date.fromisoformat, nargs="+", required=True,
                    help="replayed nights (the oracle: the first)")
    ap.add_argument("--horizon-days", type=int, required=True)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--oracle", action="store_true", help="generated data: score the generator's own model")
    ap.add_argument("--baseline-ndcg", type=float, help="the backtest's best baseline on this night")
    ap.add_argument("--fusions", type=int, default=0, metavar="N",
                    help="score every fusion of up to N recall sources over the stored candidates, in hindsight")
    args = ap.parse_args()
    cfg = load_config(args.conf, args.overrides)
    k, root = cfg.score.top_k, fs.join(fs.absolute(cfg.storage.warehouse), "_backtest")

    def table(name: str) -> pd.DataFrame:
        return DeltaTable(fs.join(root, name)).to_pandas()

    events, recs = table("interactions"), table("recommendations")
    cands = table("candidates") if args.fusions else None
    published, fused, truths = {}, {}, {}
    for night in args.night:
        truths[night] = night_truth(events, cfg, night, args.horizon_days)
        truth = truths[night][1]
        listed = recs[recs.run_date == night].sort_values(["user_id", "rank"])
        published[night] = ndcg(listed.groupby("user_id").item_id.agg(list).to_dict(), truth, k)
        if args.fusions:
            fused[night] = fusions(cands[cands.run_date == night].reset_index(drop=True), truth, k, args.fusions)
    if args.fusions:
        got = pd.DataFrame(fused).mean(axis=1, skipna=False).dropna()  # each night alike, as the backtest
        shown = np.mean([v.mean() for v in published.values()])
        size = got.index.str.count("[+]") + 1
        print(f"NDCG@{k}, mean over {len(args.night)} night(s): published {shown:.4f}")
        for n in sorted(set(size)):
            best = got[size == n].sort_values(ascending=False)
            print(f"  {n} source(s): " + ", ".join(f"{name} {v:.4f}" for name, v in best.head(12 if n == 1 else 3).items()))
        print(f"fusions_best={got.max():.4f} ({got.idxmax()}) published={shown:.4f}")
    if not args.oracle:
        return

    night = args.night[0]
    (seen, truth), shoprank = truths[night], published[night]
    items, band_of, pref, band = preference(cfg.generate)
    catalogue = table("items")
    sellable = set(catalogue[(catalogue.run_date == night) & catalogue.active].item_id)
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
