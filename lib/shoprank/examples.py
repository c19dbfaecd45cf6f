"""Training and validation lists for the ranker, drawn from the distribution it serves.

For a label window [c, c + L): each user's candidates as of c (the night's own recall
code, run on the events before c); the candidates the user then interacted with (new
items only) are positives, the other candidates hard negatives, plus (training only) a
few random catalogue items. One list per (window, user) that has a positive among its
candidates, at most `list_size` items: every positive, then negatives in random order.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from shoprank.baselines import dense_index
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


def index_items(allowed: DataFrame) -> tuple[DataFrame, int]:
    """((item_id, idx 0..n-1 in id order), n): the items random negatives are drawn
    from, cached (the caller unpersists it). Runs an action: a named step."""
    pool = dense_index(allowed.select("item_id"), "item").withColumnRenamed("item_idx", "idx").cache()
    return pool, pool.count()


def draw(seed: int, *cols: str) -> Column:
    """A uniform number in [0, 1) fixed by the seed and the row's values. `F.rand` depends
    on where a row lands after a shuffle, so a re-run night would draw other negatives."""
    return F.xxhash64(F.lit(seed), *cols).bitwiseAND(F.lit((1 << 53) - 1)) / float(1 << 53)


def random_items(users: DataFrame, pool: DataFrame, pool_size: int, per_user: int, seed: int) -> DataFrame:
    """(user_id, item_id): per_user items drawn uniformly from an indexed pool."""
    draws = users.select("user_id", F.explode(F.sequence(F.lit(1), F.lit(per_user))).alias("_k"))
    draws = draws.withColumn("idx", F.floor(draw(seed, "user_id", "_k") * pool_size).cast("int"))
    return draws.join(pool, "idx").select("user_id", "item_id").distinct()


def unscored(drawn: DataFrame, candidates: DataFrame) -> DataFrame:
    """(user_id, item_id) drawn pairs that are not candidates, as candidate rows without
    a source score (user_id, item_id, source_scores, source_ranks)."""
    return (drawn.join(candidates.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti")
            .select("user_id", "item_id", F.create_map().cast("map<string,double>").alias("source_scores"),
                    F.create_map().cast("map<string,int>").alias("source_ranks")))


def build_lists(candidates: DataFrame, labels: DataFrame, extra: DataFrame | None, list_id: str, list_size: int,
                seed: int) -> DataFrame:
    """Labelled lists: rows of `candidates` and of `extra` (pairs that are not candidates,
    with the same columns: `unscored`, or their features) plus `list_id` and `label`, only
    for users with a positive among them."""
    pool = candidates if extra is None else candidates.unionByName(extra)
    labelled = pool.join(labels.withColumn("label", F.lit(1.0)), ["user_id", "item_id"], "left").withColumn(
        "label", F.coalesce("label", F.lit(0.0)).cast("float"))
    with_pos = labelled.filter("label > 0").select("user_id").distinct()
    order = Window.partitionBy("user_id").orderBy(F.col("label").desc(), draw(seed, "user_id", "item_id"), "item_id")
    return (labelled.join(with_pos, "user_id", "left_semi")
            .withColumn("_n", F.row_number().over(order)).filter(F.col("_n") <= list_size).drop("_n")
            .withColumn("list_id", F.concat(F.lit(f"{list_id}:"), F.col("user_id"))))
