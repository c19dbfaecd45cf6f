"""Recall source `trending`: items gaining users in the last `trend_days` against their
pace over the popularity charts' window, in each user's top categories (down to the
`per_source`-th of each the user never had)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs, chart_heads, ranked_chart


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    short = inputs.recent(p.trend_days).groupBy("item_id", "category").agg(
        F.countDistinct("user_id").alias("short"))
    long = inputs.chart().groupBy("item_id").agg(F.countDistinct("user_id").alias("long"))
    pace = (F.col("short") / p.trend_days + 1.0) / (F.col("long") / inputs.chart_days + 1.0)
    scored = (short.join(long, "item_id").join(inputs.allowed, "item_id", "left_semi")
              .filter(F.col("category") != "unknown").withColumn("trend", F.log1p("short") * pace))
    user_cats = inputs.users.select("user_id", F.posexplode("top_categories").alias("cat_rank", "chart"))
    heads = chart_heads(ranked_chart(scored, "category", "trend"), user_cats, inputs.had(), p.per_source)
    return heads.select("user_id", "item_id", (F.col("trend") / (F.col("cat_rank") + 1)).alias("score"))
