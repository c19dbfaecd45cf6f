"""Recall source `item_knn`: RePlay's item-kNN (cosine over co-occurrence), fit on each
user's `graph_events_per_user` most recent events; a user's items score by their
similarity to the user's items. RePlay drops what the user had among those events; the
older items the user had are dropped here, from a list asked deep enough that each user
keeps `per_source` (a heavy user's older items are the nearest to its recent ones: with
a fixed `per_source`, 58% of ML-100k's users kept fewer after `merge` removed them). The
extra depth is capped at the ALS source's `MAX_EXTRA` (1,000): a user with more older
items than that may keep fewer."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.baselines.als import MAX_EXTRA
from shoprank.baselines.replay_models import fit_predict, item_knn
from shoprank.materialise import materialise, release
from shoprank.recall import RecallInputs, top_per_user
from shoprank.recall.signals import latest_events


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    users = inputs.users.select("user_id")
    latest = latest_events(inputs.history, p.graph_events_per_user)
    # Computed once: it sizes the deep list and is then dropped from it.
    older = materialise(inputs.history.join(users, "user_id", "left_semi").select("user_id", "item_id")
                        .distinct().join(latest.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti"))
    most = older.groupBy("user_id").count().agg(F.max("count")).first()[0] or 0
    deep = fit_predict(item_knn(p.neighbours), latest, users, inputs.allowed, p.per_source + min(most, MAX_EXTRA))
    kept = materialise(top_per_user(deep.join(older, ["user_id", "item_id"], "left_anti"), p.per_source)
                       .select("user_id", "item_id", "score"))
    release(deep)
    release(older)
    return kept
