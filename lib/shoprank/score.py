"""Scoring on the executors and the final list.

Each Python worker fetches the published model from the artifact store once
(cached per process) and scores whole Arrow batches. The final list takes each
user's best candidates by score, diversified by maximal marginal relevance over
categories (`score.mmr_lambda`) and optionally capped per category (`score.max_per_category`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, StructField, StructType

from shoprank.ml.model import STRING_INPUTS
from shoprank.ml.serving import PublishedModel, load
from shoprank.transforms import Transform


def _score_batches(published: PublishedModel, batch_size: int):
    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = load(published)  # once per worker process, not per row
        for pdf in frames:
            if pdf.empty:
                continue
            inputs = {n: pdf[n].to_numpy(dtype=object) for n in STRING_INPUTS}
            inputs["features"] = np.stack(pdf["features"].to_numpy()).astype(np.float32)
            logits = model.predict(inputs, batch_size=batch_size, verbose=0)
            yield pdf.assign(score=np.asarray(logits, dtype=np.float64).reshape(-1))

    return run


def score_pairs(model: PublishedModel, batch_size: int = 4096) -> Transform:
    """Rows with `features`, `item_id`, `category` -> the same rows plus `score` (the
    ranker's logit: higher is better)."""

    def apply(df: DataFrame) -> DataFrame:
        schema = StructType(df.schema.fields + [StructField("score", DoubleType(), False)])
        return df.mapInPandas(_score_batches(model, batch_size), schema)

    return apply


def mmr_order(scores: np.ndarray, categories: np.ndarray, k: int, lam: float, cap: int) -> list[int]:
    """Greedy maximal marginal relevance: positions (into the score-sorted arrays) of the
    k picks maximising lam * relevance - (1 - lam) * [category already picked], with
    relevance the rank-based score in [0, 1]; at most `cap` per category (0: no cap) while
    other categories remain."""
    n = len(scores)
    relevance = 1.0 - np.arange(n) / max(n, 1)
    picked: list[int] = []
    counts: dict = {}
    left = list(range(n))
    while left and len(picked) < k:
        open_cats = [i for i in left if not cap or counts.get(categories[i], 0) < cap]
        pool = open_cats or left
        best = max(pool, key=lambda i: lam * relevance[i] - (1 - lam) * (counts.get(categories[i], 0) > 0))
        picked.append(best)
        counts[categories[best]] = counts.get(categories[best], 0) + 1
        left.remove(best)
    return picked


def rerank(top_k: int, max_per_category: int, mmr_lambda: float, depth: int, run_date: dt.date,
           model_version: str) -> Transform:
    """Scored candidates -> RECOMMENDATIONS: per user, the best `depth` by score, then
    top_k picked by MMR over categories (lambda 1: by score alone), at most
    max_per_category per category (0: no cap) unless too few categories remain."""

    def pick(pdf: pd.DataFrame) -> pd.DataFrame:
        pdf = pdf.sort_values(["score", "item_id"], ascending=[False, True]).head(depth).reset_index(drop=True)
        order = mmr_order(pdf["score"].to_numpy(), pdf["category"].to_numpy(), top_k, mmr_lambda, max_per_category)
        out = pdf.iloc[order].reset_index(drop=True)
        return pd.DataFrame({"run_date": run_date, "user_id": out["user_id"], "rank": np.arange(1, len(out) + 1,
                                                                                              dtype=np.int32),
                             "item_id": out["item_id"], "score": out["score"].astype(np.float64),
                             "category": out["category"], "sources": out["sources"],
                             "model_version": model_version})

    def apply(scored: DataFrame) -> DataFrame:
        best = Window.partitionBy("user_id").orderBy(F.col("score").desc(), "item_id")
        shortlist = (scored.withColumn("_r", F.row_number().over(best)).filter(F.col("_r") <= depth)
                     .select("user_id", "item_id", "score", "category", "sources"))
        return shortlist.groupBy("user_id").applyInPandas(
            pick, "run_date date, user_id string, rank int, item_id string, score double, category string, "
                  "sources array<string>, model_version string")

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
