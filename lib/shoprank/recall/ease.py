"""Recall source `ease`: EASE (Steck 2019), the linear item-item model that is among the
strongest simple recommenders, fit on every (user, item) pair before the cutoff (the
`ease_max_items` most popular items, see `baselines.ease`), as the `ease` baseline is;
a user's items score by the model's weights from every item they had, those items
excluded before the source's top `per_source` is taken."""

from __future__ import annotations

from pyspark.sql import DataFrame

from shoprank.baselines import ease
from shoprank.recall import RecallInputs, top_per_user


def candidates(inputs: RecallInputs) -> DataFrame:
    """Materialised here, so the model's frames can be released."""
    p = inputs.params
    pairs = inputs.history.select("user_id", "item_id").distinct()

    def finish(scored: DataFrame) -> DataFrame:
        fresh = scored.join(pairs, ["user_id", "item_id"], "left_anti").join(inputs.allowed, "item_id", "left_semi")
        return top_per_user(fresh, p.per_source).select("user_id", "item_id", "score")

    return ease.scores(pairs, inputs.users.select("user_id"), p.ease_max_items, p.ease_lambda, p.ease_neighbours,
                       finish)
