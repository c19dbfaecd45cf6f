"""Recall source `popular`: the items most users interacted with over the last
`popular_days` (longer when they hold few events: `chart_start`), for everyone (every
user gets candidates, whatever their history)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs


def top_of(inputs: RecallInputs, events: DataFrame) -> DataFrame:
    """The `per_source` recommendable items most users took in `events`, for every user."""
    chart = (events.join(inputs.allowed, "item_id", "left_semi")
             .groupBy("item_id").agg(F.countDistinct("user_id").alias("users")))
    # orderBy+limit is a distributed top-k; its rows are broadcast to every user:
    # O(users * n) rows, the size of the output itself.
    top = chart.orderBy(F.col("users").desc(), "item_id").limit(inputs.params.per_source)
    return inputs.users.select("user_id").crossJoin(F.broadcast(top)).select(
        "user_id", "item_id", F.log1p("users").alias("score"))


def candidates(inputs: RecallInputs) -> DataFrame:
    return top_of(inputs, inputs.chart())
