"""make bench-als: the `als` recall source (Spark MLlib's implicit ALS, top-N per user
blockwise) against the same fit through RePlay's ALSWrap, on synthetic events
(Pareto item popularity) where a share of the items may not be published (RePlay then
scores every user x allowed item pair). Prints figures; the last line is
`als_seconds=<mllib> replay_seconds=<replay> speedup=<replay / mllib>` (warm runs)."""

from __future__ import annotations

import argparse
import logging
import time

from pyspark.sql import functions as F

from shoprank.baselines import als
from shoprank.baselines.replay_models import fit_predict
from shoprank.config import SparkConf
from shoprank.session import build_session

log = logging.getLogger("bench_als")
ACTIONS = ("view", "view", "click", "purchase")


def events(spark, users: int, items: int, rows: int):
    ids = spark.range(rows)
    item = (F.floor(F.pow(F.rand(2), -1 / 1.2)) % items).cast("long")  # Pareto(1.2) popularity
    return ids.select(F.concat(F.lit("u"), (F.rand(1) * users).cast("long").cast("string")).alias("user_id"),
                      F.concat(F.lit("i"), item.cast("string")).alias("item_id"),
                      F.array(*map(F.lit, ACTIONS))[(F.rand(3) * len(ACTIONS)).cast("int")].alias("action"))


def timed(run) -> tuple[float, int]:
    start = time.perf_counter()
    out = run()
    n = out.count()
    return time.perf_counter() - start, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=5_000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--inactive", type=float, default=0.01, help="share of items that may not be published")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spark = build_session(SparkConf(master="local[2]", app_name="bench-als"))
    ev = events(spark, a.users, a.items, a.events).cache()
    log.info("%d events", ev.count())
    users = ev.select("user_id").distinct()
    allowed = ev.select("item_id").distinct().filter(F.abs(F.hash("item_id")) % 10_000 >= a.inactive * 10_000)
    from replay.models import ALSWrap

    runs = {"mllib": lambda: als.top_items(ev, users, allowed, a.k, 32, 10, 0.1, 1.0, 17),
            "replay": lambda: fit_predict(ALSWrap(rank=32, implicit_prefs=True, seed=17), ev, users, allowed, a.k)}
    best = {}
    for rep in range(2):  # the first run of each pays JIT and session warm-up
        for name, run in runs.items():
            seconds, n = timed(run)
            log.info("%s run %d: %.1f s, %d rows", name, rep, seconds, n)
            best[name] = seconds
    print(f"als_seconds={best['mllib']:.1f} replay_seconds={best['replay']:.1f} "
          f"speedup={best['replay'] / best['mllib']:.2f}")


if __name__ == "__main__":
    main()
