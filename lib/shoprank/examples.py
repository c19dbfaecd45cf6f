"""Labelled examples: implicit-feedback positives, popularity-sampled negatives,
time-based split. Windows for run date D (end = D+1 00:00 UTC):

    [horizon ........ label_start) [label_start .. val_start) [val_start .. end)
     train features                 train labels
     validation features ............................... )    validation labels
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from shoprank.features import POSITIVE_ACTIONS

Transform = Callable[[DataFrame], DataFrame]


@dataclass(frozen=True)
class Windows:
    horizon_start: dt.datetime
    label_start: dt.datetime
    val_start: dt.datetime
    end: dt.datetime

    @classmethod
    def for_run(cls, run_date: dt.date, horizon_days: int, label_days: int, validation_days: int):
        end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), dt.UTC)
        val_start = end - dt.timedelta(days=validation_days)
        return cls(end - dt.timedelta(days=horizon_days), val_start - dt.timedelta(days=label_days),
                   val_start, end)


def positives(events: DataFrame) -> DataFrame:
    """Distinct (user, item) pairs with a click or stronger action."""
    return events.filter(F.col("action").isin(*POSITIVE_ACTIONS)).select("user_id", "item_id").distinct()


def negative_pool(events: DataFrame, items: DataFrame) -> DataFrame:
    """Items weighted by popularity (one row per event) plus every catalogue item once,
    so cold items are sampled too."""
    return events.select("item_id").unionByName(items.select("item_id"))


def index_rows(df: DataFrame) -> tuple[DataFrame, int]:
    """Dense 0..n-1 row index without collecting rows: per-partition offsets only.

    Runs actions, so it is a named step, not a transform. The returned frame is
    cached; the caller unpersists it when done."""
    with_pid = df.withColumn("_pid", F.spark_partition_id()).persist(StorageLevel.MEMORY_AND_DISK)
    counts = sorted((r._pid, r["count"]) for r in with_pid.groupBy("_pid").count().collect())
    offsets, total = {}, 0
    for pid, n in counts:
        offsets[pid] = total
        total += n
    offset_map = F.create_map(*[F.lit(x) for kv in offsets.items() for x in kv]) if offsets else None
    w = Window.partitionBy("_pid").orderBy(F.monotonically_increasing_id())
    indexed = with_pid.withColumn(
        "idx", (offset_map[F.col("_pid")] + F.row_number().over(w) - 1) if offset_map is not None
        else F.lit(0).cast("long")).drop("_pid").persist(StorageLevel.MEMORY_AND_DISK)
    indexed.count()  # materialise while the partition ids above are still the cached ones
    with_pid.unpersist()
    return indexed, total


def sample_negatives(pool: DataFrame, pool_size: int, per_row: int, seed: int) -> Transform:
    """For each (user_id, ...) row, `per_row` pool items drawn with replacement."""

    def apply(rows: DataFrame) -> DataFrame:
        draws = rows.select("user_id", F.explode(F.sequence(F.lit(1), F.lit(per_row))).alias("_k"))
        draws = draws.withColumn("idx", F.floor(F.rand(seed) * pool_size).cast("long"))
        return draws.join(pool, "idx").select("user_id", "item_id")

    return apply


def label_examples(pos: DataFrame, neg: DataFrame, exclude: DataFrame) -> DataFrame:
    """Positives labelled 1, negatives 0 (minus any pair the user did interact with)."""
    neg = neg.join(exclude, ["user_id", "item_id"], "left_anti").distinct()
    return pos.withColumn("label", F.lit(1.0).cast("float")).unionByName(
        neg.withColumn("label", F.lit(0.0).cast("float")))
