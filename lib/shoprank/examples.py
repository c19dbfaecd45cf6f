"""Training and validation lists for the ranker, drawn from the distribution it serves.

For a label window [c, c + L): each user's candidates as of c (the night's own recall
code, run on the events before c); the candidates the user then interacted with (new
items only) are positives, the other candidates hard negatives, plus (training only) a
few random catalogue items. One list per (window, user) that has a positive among its
candidates, at most `list_size` items: every positive, then negatives in random order.
"""

from __future__ import annotations

import datetime as dt

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from shoprank.transforms import in_window


def label_pairs(history: DataFrame, start: dt.datetime, days: int, before: DataFrame,
                actions: tuple[str, ...] = ()) -> DataFrame:
    """(user_id, item_id) of new items the user interacted with in [start, start + days),
    given the events `before` start."""
    events = history.transform(in_window(start, start + dt.timedelta(days=days)))
    if actions:
        events = events.filter(F.col("action").isin(*actions))
    return (events.select("user_id", "item_id").distinct()
            .join(before.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti"))


def index_rows(df: DataFrame) -> tuple[DataFrame, int]:
    """Dense 0..n-1 row index without collecting rows: per-partition offsets only.

    Runs actions, so it is a named step, not a transform. The returned frame is
    cached; the caller unpersists it when done."""
    with_pid = df.withColumn("_pid", F.spark_partition_id()).persist(StorageLevel.MEMORY_AND_DISK)
    counts = sorted((r._pid, r["count"]) for r in with_pid.groupBy("_pid").count().collect())
    offsets, total = {}, 0
    for pid, n in counts:
        offsets[pid] = total
        total += n
    offset_map = F.create_map(*[F.lit(x) for kv in offsets.items() for x in kv]) if offsets else None
    w = Window.partitionBy("_pid").orderBy(F.monotonically_increasing_id())
    indexed = with_pid.withColumn(
        "idx", (offset_map[F.col("_pid")] + F.row_number().over(w) - 1) if offset_map is not None
        else F.lit(0).cast("long")).drop("_pid").persist(StorageLevel.MEMORY_AND_DISK)
    indexed.count()  # materialise while the partition ids above are still the cached ones
    with_pid.unpersist()
    return indexed, total


def random_items(users: DataFrame, pool: DataFrame, pool_size: int, per_user: int, seed: int) -> DataFrame:
    """(user_id, item_id): per_user items drawn uniformly from an indexed pool."""
    draws = users.select("user_id", F.explode(F.sequence(F.lit(1), F.lit(per_user))).alias("_k"))
    draws = draws.withColumn("idx", F.floor(F.rand(seed) * pool_size).cast("long"))
    return draws.join(pool, "idx").select("user_id", "item_id").distinct()


def build_lists(candidates: DataFrame, labels: DataFrame, extra: DataFrame | None, list_id: str, list_size: int,
                seed: int) -> DataFrame:
    """Labelled lists: (list_id, user_id, item_id, source_scores, source_ranks, label),
    only for users with a positive among their candidates; `extra` (user_id, item_id)
    items join the candidates without source scores."""
    pool = candidates.select("user_id", "item_id", "source_scores", "source_ranks")
    if extra is not None:
        pool = pool.unionByName(
            extra.join(pool, ["user_id", "item_id"], "left_anti")
            .select("user_id", "item_id", F.create_map().cast("map<string,double>").alias("source_scores"),
                    F.create_map().cast("map<string,int>").alias("source_ranks")))
    labelled = pool.join(labels.withColumn("label", F.lit(1.0)), ["user_id", "item_id"], "left").withColumn(
        "label", F.coalesce("label", F.lit(0.0)).cast("float"))
    with_pos = labelled.filter("label > 0").select("user_id").distinct()
    order = Window.partitionBy("user_id").orderBy(F.col("label").desc(), F.rand(seed), "item_id")
    return (labelled.join(with_pos, "user_id", "left_semi")
            .withColumn("_n", F.row_number().over(order)).filter(F.col("_n") <= list_size).drop("_n")
            .withColumn("list_id", F.concat(F.lit(f"{list_id}:"), F.col("user_id"))))
