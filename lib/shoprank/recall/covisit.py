"""Recall source `covisit`: items other users touched within `covisit_hours` of an item
the user touched recently. Each co-visit counts with the weight of its action, halved
every `decay_days` of age, so recent purchases and carts weigh most; the user's own
items weigh by their actions and recency."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs
from shoprank.recall.signals import latest_events, seeds, spread, strongest, weighted


def graph(inputs: RecallInputs) -> DataFrame:
    """(seed, item_id, gw): time-decayed, action-weighted co-visits within the window."""
    p = inputs.params
    width = p.covisit_hours * 3600
    ev = weighted(latest_events(inputs.history, p.graph_events_per_user), inputs.end, p.decay_days)
    ev = ev.select("user_id", "item_id", F.col("ts").cast("long").alias("t"), "w",
                   F.floor(F.col("ts").cast("long") / width).alias("bucket"))
    # Two events within the window fall in the same or adjacent buckets: an equi-join
    # on (user, bucket) against each event's three buckets finds every pair once.
    near = ev.select("user_id", F.explode(F.array(F.col("bucket") - 1, "bucket", F.col("bucket") + 1))
                     .alias("bucket"), F.col("item_id").alias("other"), F.col("t").alias("t2"), F.col("w").alias("w2"))
    pairs = (ev.join(near, ["user_id", "bucket"])
             .filter((F.col("item_id") != F.col("other")) & (F.abs(F.col("t") - F.col("t2")) <= width)))
    weights = pairs.groupBy(F.col("item_id").alias("seed"), F.col("other").alias("item_id")).agg(
        F.sum("w2").alias("gw"))
    return strongest(weights, p.neighbours)


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    users = seeds(inputs.history.join(inputs.users, "user_id", "left_semi"), inputs.end, p.decay_days,
                  p.seeds_per_user)
    return spread(users, graph(inputs))
