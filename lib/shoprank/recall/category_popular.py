"""Recall source `category_popular`: the most popular recent items of each user's top
categories."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    pop = (inputs.chart().filter(F.col("category") != "unknown")
           .join(inputs.allowed, "item_id", "left_semi")
           .groupBy("item_id", "category").agg(F.countDistinct("user_id").alias("users")))
    w = Window.partitionBy("category").orderBy(F.col("users").desc(), "item_id")
    top = pop.withColumn("r", F.row_number().over(w)).filter(F.col("r") <= p.per_source)
    user_cats = inputs.users.select("user_id", F.posexplode("top_categories").alias("cat_rank", "category"))
    return user_cats.join(top, "category").select(
        "user_id", "item_id", (F.log1p("users") / (F.col("cat_rank") + 1)).alias("score"))
