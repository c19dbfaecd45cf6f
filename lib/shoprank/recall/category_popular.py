"""Recall source `category_popular`: the most popular recent items of each user's top
categories, each user's down to the `per_source`-th item of each they never had."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs, chart_heads, ranked_chart


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    pop = (inputs.chart().filter(F.col("category") != "unknown")
           .join(inputs.allowed, "item_id", "left_semi")
           .groupBy("item_id", "category").agg(F.countDistinct("user_id").alias("users")))
    user_cats = inputs.users.select("user_id", F.posexplode("top_categories").alias("cat_rank", "chart"))
    heads = chart_heads(ranked_chart(pop, "category", "users"), user_cats, inputs.history, p.per_source)
    return heads.select("user_id", "item_id", (F.log1p("users") / (F.col("cat_rank") + 1)).alias("score"))
