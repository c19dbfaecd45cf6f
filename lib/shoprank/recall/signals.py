"""What several recall sources share: events weighted by action and age, each user's
most recent items, and an item graph kept to each item's strongest neighbours."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from shoprank.features import action_weight


def age_days(end: dt.datetime, ts: Column | None = None) -> Column:
    """Days from `ts` (column `ts` unless given) to `end`."""
    ts = F.col("ts") if ts is None else ts
    return (F.lit(end).cast("double") - ts.cast("double")) / 86_400.0


def weighted(events: DataFrame, end: dt.datetime, half_life_days: float) -> DataFrame:
    """Adds `w`: the action's weight, halved every `half_life_days` of age."""
    return events.withColumn("w", action_weight() * F.pow(F.lit(0.5), age_days(end) / half_life_days))


def latest_events(events: DataFrame, n: int) -> DataFrame:
    """Each user's n most recent events."""
    w = Window.partitionBy("user_id").orderBy(F.col("ts").desc(), "item_id")
    return events.withColumn("_r", F.row_number().over(w)).filter(F.col("_r") <= n).drop("_r")


def recency_rank() -> Column:
    """Each user's items numbered from 1 by their last touch (column `last`), the latest
    first, ties in time by item."""
    return F.row_number().over(Window.partitionBy("user_id").orderBy(F.col("last").desc(), "item_id"))


def seeds(events: DataFrame, end: dt.datetime, half_life_days: float, n: int) -> DataFrame:
    """(user_id, seed, sw): each user's n most recently touched items, weighted by their
    actions and how recent they are."""
    per_item = (weighted(events, end, half_life_days).groupBy("user_id", "item_id")
                .agg(F.sum("w").alias("sw"), F.max("ts").alias("last")))
    return (per_item.withColumn("_r", recency_rank()).filter(F.col("_r") <= n)
            .select("user_id", F.col("item_id").alias("seed"), "sw"))


def strongest(graph: DataFrame, n: int) -> DataFrame:
    """(seed, item_id, gw) -> each seed's n heaviest neighbours."""
    w = Window.partitionBy("seed").orderBy(F.col("gw").desc(), "item_id")
    return graph.withColumn("_r", F.row_number().over(w)).filter(F.col("_r") <= n).drop("_r")


def spread(user_seeds: DataFrame, graph: DataFrame) -> DataFrame:
    """Scores from seeds through the graph: sum over the user's seeds of sw * gw."""
    return (user_seeds.join(graph, "seed").groupBy("user_id", "item_id")
            .agg(F.sum(F.col("sw") * F.col("gw")).alias("score")))
