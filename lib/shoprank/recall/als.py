"""Recall source `als`: Spark MLlib's implicit ALS (through RePlay), fit on the history
with action-weighted confidences; each user's top items by predicted preference,
computed blockwise on the executors."""

from __future__ import annotations

from pyspark.sql import DataFrame

from shoprank.baselines.replay_models import als, fit_predict
from shoprank.recall import RecallInputs


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    return fit_predict(als(p.als_rank, p.seed), inputs.history, inputs.users.select("user_id"), inputs.allowed,
                       p.per_source, weights=True)
