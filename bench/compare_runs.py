"""Two backtest runs compared on the nights both scored, from the per-user NDCG files each
night writes as it ends (`ArtifactStore.backtest_users`): so a run stopped before its
last night, or one of fewer nights than the run it is compared with, still counts.

Prints each list's mean NDCG@10 over the common nights in both runs, shoprank's per
night, and the newer run's interval for shoprank over its best rival on those nights
(`bootstrap.ratio_interval`, the backtest's own method).

    PYTHONPATH=lib python bench/compare_runs.py OLD_ARTIFACTS NEW_ARTIFACTS --last-night 2018-08-25
"""

from __future__ import annotations

import argparse
import datetime as dt

import pandas as pd
from pyspark.sql import SparkSession

from shoprank import bootstrap
from shoprank.schemas import BACKTEST_USERS
from shoprank.storage.artifacts import ArtifactStore


def per_user(spark: SparkSession, root: str, last: dt.date):
    return (spark.read.schema(BACKTEST_USERS).option("recursiveFileLookup", "true")
            .parquet(ArtifactStore.at(root).backtest_users(last)))


def nightly(df) -> pd.DataFrame:
    """model x night mean NDCG (models x nights rows reach the driver)."""
    rows = df.groupBy("model", "night").avg("ndcg").collect()
    return pd.DataFrame(rows, columns=["model", "night", "ndcg"]).pivot(index="model", columns="night", values="ndcg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--last-night", required=True, type=dt.date.fromisoformat)
    ap.add_argument("--replicates", type=int, default=1000)
    a = ap.parse_args()
    spark = SparkSession.builder.master("local[1]").appName("compare_runs").getOrCreate()
    old, new = per_user(spark, a.old, a.last_night), per_user(spark, a.new, a.last_night)
    x, y = nightly(old), nightly(new)
    nights = sorted(set(x.columns) & set(y.columns))
    models = sorted(set(x.index) & set(y.index))
    x, y = x.loc[models, nights], y.loc[models, nights]
    out = pd.DataFrame({"old": x.mean(axis=1), "new": y.mean(axis=1)})
    out["ratio"] = out.new / out.old
    print("nights:", ", ".join(n.isoformat() for n in nights))
    print(out.sort_values("new", ascending=False).round(4).to_string())
    print("shoprank per night, old:", x.loc["shoprank"].round(4).tolist())
    print("shoprank per night, new:", y.loc["shoprank"].round(4).tolist())
    best = out.drop("shoprank").new.idxmax()
    kept = new.filter(new.night.isin(nights))
    ci = bootstrap.ratio_interval(spark, kept, "shoprank", best, a.replicates, seed=7)
    print(f"new: shoprank / {best} = {out.new['shoprank'] / out.new[best]:.3f}, 95% interval "
          f"[{ci['lo']:.3f}, {ci['hi']:.3f}], {ci['hits']} pairs with a hit, "
          f"{ci['share_above_target']:.0%} of replicates >= {ci['target']}")
    spark.stop()


if __name__ == "__main__":
    main()
