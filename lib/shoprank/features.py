"""User and item features, computed as of a cutoff so training never sees the future.

`attach_features` is the single place that turns (user, item) pairs into model
inputs; training examples, validation examples and scoring all go through it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from shoprank.schemas import FEATURE_COLUMNS

Transform = Callable[[DataFrame], DataFrame]

ACTION_WEIGHTS = {"view": 1.0, "click": 2.0, "favorite": 3.0, "add_to_cart": 4.0, "purchase": 5.0}
POSITIVE_ACTIONS = ("click", "favorite", "add_to_cart", "purchase")


def action_weight():
    mapping = F.create_map(*[F.lit(x) for kv in ACTION_WEIGHTS.items() for x in kv])
    return mapping[F.col("action")]


def in_window(start: dt.datetime, end: dt.datetime) -> Transform:
    def apply(df: DataFrame) -> DataFrame:
        return df.filter((F.col("ts") >= F.lit(start)) & (F.col("ts") < F.lit(end)))

    return apply


def user_features(run_date: dt.date, top_n: int = 3) -> Transform:
    """Interactions (already windowed) -> USER_FEATURES."""

    def apply(events: DataFrame) -> DataFrame:
        ev = events.withColumn("w", action_weight())
        per_cat = ev.groupBy("user_id", "category").agg(F.sum("w").alias("cw"))
        total = Window.partitionBy("user_id")
        ranked = per_cat.withColumn("share", F.col("cw") / F.sum("cw").over(total)).withColumn(
            "r", F.row_number().over(total.orderBy(F.col("cw").desc(), "category")))
        affinity = ranked.groupBy("user_id").agg(
            F.map_from_entries(F.collect_list(F.struct("category", "share"))).alias("category_affinity"),
            F.transform(F.array_sort(F.collect_list(F.when(F.col("r") <= top_n, F.struct("r", "category")))),
                        lambda s: s["category"]).alias("top_categories"),
        )
        stats = ev.groupBy("user_id").agg(
            F.count(F.lit(1)).alias("n_events"),
            F.sum((F.col("action") == "purchase").cast("long")).alias("n_purchases"),
            F.avg(F.log1p("price")).alias("mean_log_price"),
        )
        return stats.join(affinity, "user_id").select(
            F.lit(run_date).alias("run_date"), "user_id", "n_events", "n_purchases",
            "mean_log_price", "category_affinity", "top_categories")

    return apply


def item_features(run_date: dt.date, items: DataFrame) -> Transform:
    """Interactions (already windowed) -> ITEM_FEATURES for every catalogue item."""

    def apply(events: DataFrame) -> DataFrame:
        stats = events.groupBy("item_id").agg(
            F.count(F.lit(1)).alias("n_events"),
            F.countDistinct("user_id").alias("n_users"),
            F.sum((F.col("action") == "purchase").cast("long")).alias("n_purchases"),
            F.sum((F.col("action") == "view").cast("long")).alias("n_views"),
        )
        return items.select("item_id", "category", "brand", "price").join(stats, "item_id", "left").select(
            F.lit(run_date).alias("run_date"), "item_id", "category", "brand", "price",
            F.coalesce("n_events", F.lit(0)).cast("long").alias("n_events"),
            F.coalesce("n_users", F.lit(0)).cast("long").alias("n_users"),
            (F.coalesce("n_purchases", F.lit(0)) / F.greatest(F.coalesce("n_views", F.lit(0)), F.lit(1)))
            .cast("double").alias("conversion"),
        )

    return apply


def attach_features(users: DataFrame, items: DataFrame) -> Transform:
    """(user_id, item_id, ...) pairs -> model inputs (FEATURE_COLUMNS) plus the pair's other columns."""

    def apply(pairs: DataFrame) -> DataFrame:
        extra = [c for c in pairs.columns if c not in FEATURE_COLUMNS.names]
        u = users.select("user_id", "mean_log_price", "category_affinity")
        i = items.select("item_id", "category", "brand", "price", "n_events", "conversion")
        joined = pairs.select("user_id", "item_id", *extra).join(i, "item_id", "left").join(u, "user_id", "left")
        log_price = F.log1p("price")
        return joined.select(
            "user_id",
            "item_id",
            F.coalesce("category", F.lit("unknown")).alias("category"),
            F.coalesce("brand", F.lit("unknown")).alias("brand"),
            F.coalesce(log_price, F.lit(0.0)).cast("float").alias("log_price"),
            F.log1p(F.coalesce("n_events", F.lit(0))).cast("float").alias("item_popularity"),
            F.coalesce("conversion", F.lit(0.0)).cast("float").alias("item_conversion"),
            F.coalesce(F.col("category_affinity")[F.col("category")], F.lit(0.0)).cast("float")
            .alias("category_affinity"),
            F.coalesce(F.abs(log_price - F.col("mean_log_price")), F.lit(0.0)).cast("float").alias("price_gap"),
            *extra,
        )

    return apply
