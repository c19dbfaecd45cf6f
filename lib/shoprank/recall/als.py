"""Recall source `als`: Spark MLlib's implicit ALS, fit on the history with
action-weighted confidences; each user's top items by predicted preference, computed
blockwise on the executors (see `baselines.als`, which the `als` baseline shares)."""

from __future__ import annotations

from pyspark.sql import DataFrame

from shoprank.baselines import als
from shoprank.recall import RecallInputs


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    return als.top_items(inputs.history, inputs.users.select("user_id"), inputs.allowed, p.per_source, p.als_rank,
                         p.als_iterations, p.als_reg, p.als_alpha, p.seed)
