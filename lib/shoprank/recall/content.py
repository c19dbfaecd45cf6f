"""Recall source `content`: the items whose text is closest to the user's interest (the
time-decayed mean of their recent items' text embeddings). It reaches items nobody
interacted with yet: new items get to users through their description."""

from __future__ import annotations

from pyspark.sql import DataFrame

from shoprank.recall import RecallInputs
from shoprank.text import nearest


def candidates(inputs: RecallInputs) -> DataFrame:
    users = inputs.interests.join(inputs.users.select("user_id"), "user_id", "left_semi")
    items = inputs.vectors.join(inputs.allowed, "item_id", "left_semi")
    # Room for the user's own items, which merge removes.
    return nearest(users.select("user_id", "interest"), items, inputs.params.per_source + inputs.params.seeds_per_user)
