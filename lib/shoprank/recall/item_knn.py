"""Recall source `item_knn`: RePlay's item-kNN (cosine over co-occurrence), fit on each
user's `graph_events_per_user` most recent events; a user's items score by their
similarity to the user's items."""

from __future__ import annotations

from pyspark.sql import DataFrame

from shoprank.baselines.replay_models import fit_predict, item_knn
from shoprank.recall import RecallInputs
from shoprank.recall.signals import latest_events


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    history = latest_events(inputs.history, p.graph_events_per_user)
    return fit_predict(item_knn(p.neighbours), history, inputs.users.select("user_id"), inputs.allowed,
                       p.per_source)
