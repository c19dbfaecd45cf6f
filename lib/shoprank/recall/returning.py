"""Recall source `returning`: the chart of return visits, the items most users took in the
charts' window on a later visit than their first (over `return_after_hours` after the
user's first event in the history). Lists go to users the shop knows, whose next visit is
a return; the chart of every event is led by what first visits take, which on a shop that
grows fast is most of its events."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs, popular


def later_visits(history: DataFrame, events: DataFrame, after_hours: float) -> DataFrame:
    """`events` taken over `after_hours` after their user's first event in `history`."""
    first = history.groupBy("user_id").agg(F.min("ts").alias("first_ts"))
    gap = F.unix_micros(F.col("ts")) - F.unix_micros(F.col("first_ts"))
    return events.join(first, "user_id").filter(gap > int(after_hours * 3_600_000_000)).drop("first_ts")


def candidates(inputs: RecallInputs) -> DataFrame:
    return popular.top_of(inputs, later_visits(inputs.history, inputs.chart(), inputs.params.return_after_hours))
