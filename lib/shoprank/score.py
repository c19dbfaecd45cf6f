"""Scoring on the executors and top-K re-ranking.

The model file is shipped with `SparkContext.addFile`; each Python worker
loads it once (cached per process) and scores whole Arrow batches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from shoprank.ml.model import NUMERIC_FEATURES, STRING_FEATURES

Transform = Callable[[DataFrame], DataFrame]
_MODELS: dict[str, object] = {}


def _load_model(file_name: str):
    if file_name not in _MODELS:
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf
        from pyspark import SparkFiles

        path = file_name if os.path.isabs(file_name) else SparkFiles.get(file_name)
        _MODELS[file_name] = tf.keras.models.load_model(path, compile=False)
    return _MODELS[file_name]


def _score_batches(file_name: str, batch_size: int):
    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import numpy as np

        model = _load_model(file_name)  # once per worker process, not per row
        for pdf in frames:
            if pdf.empty:
                continue
            feats = {n: pdf[n].to_numpy(dtype=object) for n in STRING_FEATURES}
            feats.update({n: pdf[n].to_numpy(dtype=np.float32) for n in NUMERIC_FEATURES})
            logits = model.predict(feats, batch_size=batch_size, verbose=0)
            yield pdf.assign(score=1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64).reshape(-1))))

    return run


def score_pairs(file_name: str, batch_size: int = 4096) -> Transform:
    """Feature rows -> the same rows plus `score` (probability of a positive)."""

    def apply(df: DataFrame) -> DataFrame:
        schema = StructType(df.schema.fields + [StructField("score", DoubleType(), False)])
        return df.mapInPandas(_score_batches(file_name, batch_size), schema)

    return apply


def rerank(top_k: int, max_per_category: int, run_date: dt.date, model_version: str) -> Transform:
    """Top K per user by score, at most `max_per_category` per category unless the
    user has too few candidates to fill K otherwise (then the best of the rest)."""

    def apply(scored: DataFrame) -> DataFrame:
        per_cat = Window.partitionBy("user_id", "category").orderBy(F.col("score").desc(), "item_id")
        over_cap = F.row_number().over(per_cat) > max_per_category
        ranked = scored.withColumn("_over", over_cap)
        w = Window.partitionBy("user_id").orderBy("_over", F.col("score").desc(), "item_id")
        top = ranked.withColumn("rank", F.row_number().over(w)).filter(F.col("rank") <= top_k)
        return top.select(
            F.lit(run_date).alias("run_date"), "user_id", F.col("rank").cast("int"), "item_id",
            F.col("score").cast("double"), "category", "sources", F.lit(model_version).alias("model_version"))

    return apply


def latest_by_user(buckets: int) -> Transform:
    """RECOMMENDATIONS of one night -> LATEST_RECOMMENDATIONS rows (one per user)."""

    def apply(recs: DataFrame) -> DataFrame:
        grouped = recs.groupBy("user_id", "run_date").agg(
            F.array_sort(F.collect_list(F.struct("rank", "item_id", "score"))).alias("r"))
        return grouped.select(
            F.pmod(F.hash("user_id"), F.lit(buckets)).cast("int").alias("user_bucket"), "user_id", "run_date",
            F.transform("r", lambda x: x["item_id"]).alias("item_ids"),
            F.transform("r", lambda x: x["score"]).alias("scores"))

    return apply
