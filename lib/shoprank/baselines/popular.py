"""Baseline `popular_<N>d`: the items most users interacted with over the trailing
`backtest.popular_days`, the same chart for everyone, minus what each user had."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.baselines import BaselineInputs, top_k
from shoprank.transforms import in_window


def lists(inputs: BaselineInputs) -> DataFrame:
    start = inputs.end - dt.timedelta(days=inputs.params.popular_days)
    chart = (inputs.history.transform(in_window(start, inputs.end)).join(inputs.allowed, "item_id", "left_semi")
             .groupBy("item_id").agg(F.countDistinct("user_id").alias("score")))
    # Each user skips the chart items they had: the chart needs k + (the most items any
    # user had) entries to fill every list. A scalar action.
    most_seen = inputs.seen.groupBy("user_id").count().agg(F.max("count")).collect()[0][0] or 0
    top = chart.orderBy(F.col("score").desc(), "item_id").limit(inputs.k + most_seen)
    scores = inputs.users.select("user_id").crossJoin(F.broadcast(top))
    return top_k(scores, inputs.k, exclude=inputs.seen)
