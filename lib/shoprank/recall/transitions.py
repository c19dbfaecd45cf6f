"""Recall source `transitions`: the items that followed the user's last items in other
users' sequences. Each user's events in time order (repeats of the same item in a row
collapsed) give transitions to the next `transition_steps` items, weighted 1/step and
halved every `decay_days` of age; the user's last `last_items` items seed, the latest
weighing most."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs
from shoprank.recall.signals import age_days, latest_events, spread, strongest


def sequences(events: DataFrame) -> DataFrame:
    """Each user's events in order, consecutive repeats of an item collapsed: (user_id,
    item_id, ts, pos)."""
    order = Window.partitionBy("user_id").orderBy("ts", "item_id")
    collapsed = (events.withColumn("_prev", F.lag("item_id").over(order))
                 .filter(F.col("_prev").isNull() | (F.col("_prev") != F.col("item_id"))))
    return collapsed.withColumn("pos", F.row_number().over(order)).select("user_id", "item_id", "ts", "pos")


def graph(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    seq = sequences(latest_events(inputs.history, p.graph_events_per_user))
    order = Window.partitionBy("user_id").orderBy("pos")
    steps = seq.select("user_id", "item_id", "ts", *[F.lead("item_id", g).over(order).alias(f"n{g}")
                                                     for g in range(1, p.transition_steps + 1)])
    moves = steps.select(
        F.col("item_id").alias("seed"),
        F.explode(F.array(*[F.struct(F.col(f"n{g}").alias("item_id"), F.lit(1.0 / g).alias("step"))
                            for g in range(1, p.transition_steps + 1)])).alias("m"),
        F.pow(F.lit(0.5), age_days(inputs.end) / p.decay_days).alias("decay"))
    weights = (moves.filter(F.col("m.item_id").isNotNull() & (F.col("m.item_id") != F.col("seed")))
               .groupBy("seed", F.col("m.item_id").alias("item_id"))
               .agg(F.sum(F.col("m.step") * F.col("decay")).alias("gw")))
    return strongest(weights, p.neighbours)


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    seq = sequences(inputs.history.join(inputs.users, "user_id", "left_semi"))
    last = Window.partitionBy("user_id").orderBy(F.col("pos").desc())
    user_seeds = (seq.withColumn("_r", F.row_number().over(last)).filter(F.col("_r") <= p.last_items)
                  .groupBy("user_id", F.col("item_id").alias("seed")).agg(F.max(1.0 / F.col("_r")).alias("sw")))
    return spread(user_seeds, graph(inputs))
