"""What every transform module shares: the `Transform` type and the time filter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

Transform = Callable[[DataFrame], DataFrame]


def in_window(start: dt.datetime, end: dt.datetime) -> Transform:
    """Rows with `ts` in [start, end)."""

    def apply(df: DataFrame) -> DataFrame:
        return df.filter((F.col("ts") >= F.lit(start)) & (F.col("ts") < F.lit(end)))

    return apply
