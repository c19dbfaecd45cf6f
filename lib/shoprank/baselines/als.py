"""Implicit ALS (Hu, Koren & Volinsky 2008) with Spark MLlib: the `als` baseline and the
`als` recall source.

Confidences are the user's action-weighted events on the item. Each user's best items
come from MLlib's `recommendForUserSubset`, which scores user and item factor blocks
against each other on the executors, keeping a bounded queue per user. It ranks every
fitted item, so it is asked for `k` plus enough extra items to drop what the user
already had and what may not be published: the most items any queried user had plus
the fitted items that are not allowed, capped at `MAX_EXTRA` (the queues of a block of
4096 users then hold at most about 4M entries; a user who had more items than that may
get fewer than k).
RePlay's ALSWrap, used before, scored users x items pairs one by one whenever the
allowed items were not exactly the fitted ones, and did not expose the iterations."""

from __future__ import annotations

from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from shoprank.baselines import BaselineInputs, dense_index, top_k
from shoprank.features import action_weight
from shoprank.materialise import materialise, release

MAX_EXTRA = 1000


def confidences(history: DataFrame, user_index: DataFrame, item_index: DataFrame) -> DataFrame:
    """Events -> (user_id, item_id, user_idx, item_idx, confidence): action weights summed."""
    pairs = history.groupBy("user_id", "item_id").agg(F.sum(action_weight()).cast("double").alias("confidence"))
    return pairs.join(user_index, "user_id").join(item_index, "item_id")


def fit(train: DataFrame, rank: int, iterations: int, reg: float, alpha: float, seed: int) -> ALSModel:
    return ALS(rank=rank, maxIter=iterations, regParam=reg, alpha=alpha, implicitPrefs=True, userCol="user_idx",
               itemCol="item_idx", ratingCol="confidence", seed=seed, coldStartStrategy="drop").fit(train)


def recommend(model: ALSModel, queries: DataFrame, item_index: DataFrame, seen: DataFrame, allowed: DataFrame,
              k: int, depth: int) -> DataFrame:
    """(user_id, item_id, score): each queried user's (user_id, user_idx) k best items by
    the model among the allowed ones they had not seen, from its `depth` best overall."""
    recs = model.recommendForUserSubset(queries.select("user_idx"), depth)
    scored = (recs.select("user_idx", F.explode("recommendations").alias("r"))
              .select("user_idx", F.col("r.item_idx").alias("item_idx"), F.col("r.rating").cast("double").alias("score"))
              .join(queries, "user_idx").join(item_index, "item_idx")
              .join(seen, ["user_id", "item_id"], "left_anti").join(allowed, "item_id", "left_semi"))
    w = Window.partitionBy("user_id").orderBy(F.col("score").desc(), "item_id")
    return (scored.withColumn("rank", F.row_number().over(w)).filter(F.col("rank") <= k)
            .select("user_id", "item_id", "score"))


def top_items(history: DataFrame, users: DataFrame, allowed: DataFrame, k: int, rank: int, iterations: int,
              reg: float, alpha: float, seed: int) -> DataFrame:
    """Fit on the history; each user's (users: user_id) k best unseen allowed items:
    (user_id, item_id, score), materialised (the caller releases it)."""
    user_index = dense_index(history.select("user_id"), "user")
    item_index = materialise(dense_index(history.select("item_id"), "item"))
    train = materialise(confidences(history, user_index, item_index))
    queries = materialise(train.select("user_id", "user_idx").distinct().join(users, "user_id", "left_semi"))
    most_seen = (train.join(queries, "user_idx", "left_semi").groupBy("user_idx").count()
                 .agg(F.max("count")).first()[0] or 0)
    blocked = item_index.join(allowed, "item_id", "left_anti").count()
    depth = k + min(most_seen + blocked, MAX_EXTRA)
    model = fit(train.select("user_idx", "item_idx", "confidence"), rank, iterations, reg, alpha, seed)
    out = materialise(recommend(model, queries, item_index, train.select("user_id", "item_id"), allowed, k, depth))
    for df in (item_index, train, queries):
        release(df)
    return out


def lists(inputs: BaselineInputs) -> DataFrame:
    p = inputs.params
    scores = top_items(inputs.history, inputs.users, inputs.allowed, inputs.k, p.als_rank, p.als_iterations,
                       p.als_reg, p.als_alpha, p.seed)
    out = materialise(top_k(scores, inputs.k))
    release(scores)
    return out
