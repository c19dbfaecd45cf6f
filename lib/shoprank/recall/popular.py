"""Recall source `popular`: the items most users interacted with over the last
`popular_days` (longer when they hold few events: `chart_start`), for everyone (every
user gets candidates, whatever their history), each user's down to the `per_source`-th
item they never had."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs, chart_heads, ranked_chart


def top_of(inputs: RecallInputs, events: DataFrame) -> DataFrame:
    """The recommendable items most users took in `events`, for every user down to the
    `per_source`-th the user never had (`chart_heads`)."""
    chart = (events.join(inputs.allowed, "item_id", "left_semi")
             .groupBy("item_id").agg(F.countDistinct("user_id").alias("users")))
    readers = inputs.users.select("user_id", F.lit(0).alias("chart"))
    heads = chart_heads(ranked_chart(chart, None, "users"), readers, inputs.had(), inputs.params.per_source)
    return heads.select("user_id", "item_id", F.log1p("users").alias("score"))


def candidates(inputs: RecallInputs) -> DataFrame:
    return top_of(inputs, inputs.chart())
