"""Recall: per user, candidates from several sources, merged and deduplicated.

Sources: popular items in the user's top categories, items co-occurring with
the user's recent items ("viewed/bought together"), and global popularity as a
fallback so every eligible user gets at least K candidates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

Transform = Callable[[DataFrame], DataFrame]


def item_popularity(events: DataFrame) -> DataFrame:
    return events.groupBy("item_id", "category").agg(F.count(F.lit(1)).alias("pop"))


def popular_in_categories(events: DataFrame, users: DataFrame, per_category: int) -> DataFrame:
    pop = item_popularity(events).filter(F.col("category") != "unknown")
    w = Window.partitionBy("category").orderBy(F.col("pop").desc(), "item_id")
    top = pop.withColumn("r", F.row_number().over(w)).filter(F.col("r") <= per_category)
    user_cats = users.select("user_id", F.posexplode("top_categories").alias("cat_rank", "category"))
    return user_cats.join(top, "category").select(
        "user_id", "item_id", F.lit("category_popular").alias("source"),
        (1.0 / (F.col("cat_rank") + 1) / F.col("r")).alias("score"))


def cooccurrence(events: DataFrame, recent_items: int, neighbors: int) -> DataFrame:
    """Item-item counts over users' recent items; users' recent items -> top neighbours."""
    last = events.groupBy("user_id", "item_id").agg(F.max("ts").alias("last_ts"))
    w = Window.partitionBy("user_id").orderBy(F.col("last_ts").desc(), "item_id")
    recent = last.withColumn("r", F.row_number().over(w)).filter(F.col("r") <= recent_items).select("user_id", "item_id")
    pairs = (recent.alias("a").join(recent.alias("b"), "user_id")
             .filter(F.col("a.item_id") != F.col("b.item_id"))
             .groupBy(F.col("a.item_id").alias("item"), F.col("b.item_id").alias("neighbor"))
             .agg(F.count(F.lit(1)).alias("n")))
    nw = Window.partitionBy("item").orderBy(F.col("n").desc(), "neighbor")
    top = pairs.withColumn("r", F.row_number().over(nw)).filter(F.col("r") <= neighbors)
    return (recent.join(top, recent.item_id == top.item)
            .groupBy("user_id", F.col("neighbor").alias("item_id")).agg(F.sum("n").alias("n"))
            .select("user_id", "item_id", F.lit("cooccurrence").alias("source"),
                    (F.col("n") / (F.col("n") + 10.0)).alias("score")))


def popular_fallback(events: DataFrame, users: DataFrame, n: int) -> DataFrame:
    """Global top-n for every user: O(users * n) rows, the size of the output itself."""
    pop = item_popularity(events)
    # orderBy+limit is a distributed top-k; ranking its n rows needs no global window.
    top = (pop.orderBy(F.col("pop").desc(), "item_id").limit(n)
           .agg(F.sort_array(F.collect_list(F.struct((-F.col("pop")).alias("neg"), "item_id"))).alias("t"))
           .select(F.posexplode("t").alias("r", "e"))
           .select(F.col("e.item_id").alias("item_id"), (F.col("r") + 1).alias("r")))
    return users.select("user_id").crossJoin(F.broadcast(top.select("item_id", "r"))).select(
        "user_id", "item_id", F.lit("popular").alias("source"), (0.01 / F.col("r")).alias("score"))


def merge_sources(run_date: dt.date, exclude: DataFrame | None) -> Callable[[list[DataFrame]], DataFrame]:
    def apply(sources: list[DataFrame]) -> DataFrame:
        allc = sources[0]
        for s in sources[1:]:
            allc = allc.unionByName(s)
        if exclude is not None:
            allc = allc.join(exclude, ["user_id", "item_id"], "left_anti")
        return allc.groupBy("user_id", "item_id").agg(
            F.array_sort(F.collect_set("source")).alias("sources"),
            F.sum("score").cast("double").alias("recall_score"),
        ).select(F.lit(run_date).alias("run_date"), "user_id", "item_id", "sources", "recall_score")

    return apply
