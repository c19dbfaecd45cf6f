"""Baselines a shop gets for free, computed in the backtest on exactly the data, users and
exclusions of shoprank's published lists: each is one module with
`lists(inputs) -> DataFrame[user_id, item_id, rank]`, at most K per user, never an item
the user already had, only items that may be published.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from shoprank.config import BacktestConf


@dataclass(frozen=True)
class BaselineInputs:
    history: DataFrame  # interactions the night saw (up to its end)
    users: DataFrame  # user_id: who gets a list
    allowed: DataFrame  # item_id: what may be recommended (the night's sellable items)
    end: dt.datetime  # the night's end
    k: int
    params: BacktestConf

    @property
    def seen(self) -> DataFrame:
        return self.history.select("user_id", "item_id").distinct()


Baseline = Callable[[BaselineInputs], DataFrame]


def baselines(params: BacktestConf) -> dict[str, Baseline]:
    """Every baseline by the name it is reported under."""
    from shoprank.baselines import als, ease, popular, replay_models

    return {f"popular_{params.popular_days}d": popular.lists, "als": als.lists,
            "item_knn": replay_models.item_knn_lists, "ease": ease.lists}


def dense_index(ids: DataFrame, name: str) -> DataFrame:
    """Distinct values of a one-column frame -> (value, <name>_idx 0..n-1) in value order, in
    Spark. The order makes the index the same on every run: rows arrive from a shuffle in
    no fixed order, and the models break score ties by index (RePlay's kNN did, so a
    re-run night published different lists)."""
    col = ids.columns[0]
    rdd = ids.distinct().orderBy(col).rdd.map(lambda r: r[0]).zipWithIndex()
    schema = StructType([StructField(col, ids.schema[col].dataType, False), StructField(f"{name}_idx", LongType(), False)])
    return ids.sparkSession.createDataFrame(rdd, schema).withColumn(f"{name}_idx", F.col(f"{name}_idx").cast("int"))


def top_k(scores: DataFrame, k: int, exclude: DataFrame | None = None, allowed: DataFrame | None = None) -> DataFrame:
    """(user_id, item_id, score) -> (user_id, item_id, rank) for the k best per user, ties
    broken by item id, after removing excluded pairs and items that are not allowed."""
    if exclude is not None:
        scores = scores.join(exclude, ["user_id", "item_id"], "left_anti")
    if allowed is not None:
        scores = scores.join(allowed, "item_id", "left_semi")
    w = Window.partitionBy("user_id").orderBy(F.col("score").desc(), "item_id")
    return (scores.withColumn("rank", F.row_number().over(w)).filter(F.col("rank") <= k)
            .select("user_id", "item_id", F.col("rank").cast("int")))
