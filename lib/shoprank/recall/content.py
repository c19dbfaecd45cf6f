"""Recall source `content`: the items whose text is closest to the user's interest (the
time-decayed mean of their recent items' text embeddings). It reaches items nobody
interacted with yet: new items get to users through their description. Each user's list
reaches the `per_source`-th item the user never had."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs
from shoprank.text import nearest


def candidates(inputs: RecallInputs) -> DataFrame:
    had = inputs.had().groupBy("user_id").agg(F.collect_list("item_id").alias("skip"))  # distinct pairs
    users = (inputs.interests.join(inputs.users.select("user_id"), "user_id", "left_semi")
             .join(had, "user_id", "left"))
    items = inputs.vectors.join(inputs.allowed, "item_id", "left_semi")
    # down to the per_source-th item the user never had, as the charts read (`chart_heads`)
    return nearest(users.select("user_id", "interest", "skip"), items, inputs.params.per_source)
