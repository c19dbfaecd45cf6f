"""Baselines from RePlay (`replay-rec`, the maintained PySpark recommender library):
`als` (Spark MLlib's implicit ALS, through RePlay's ALSWrap) and `item_knn` (RePlay's
ItemKNN: cosine similarity over co-occurrence). Ids are encoded to dense integers in
Spark (zipWithIndex, nothing collected); RePlay filters each user's seen items."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.baselines import BaselineInputs, top_k
from shoprank.features import action_weight
from shoprank.materialise import materialise, release


def dense_index(ids: DataFrame, name: str) -> DataFrame:
    """Distinct values of a one-column frame -> (value, <name>_idx 0..n-1), in Spark."""
    col = ids.columns[0]
    rdd = ids.distinct().rdd.map(lambda r: r[0]).zipWithIndex()
    return rdd.toDF([col, f"{name}_idx"]).withColumn(f"{name}_idx", F.col(f"{name}_idx").cast("int"))


def fit_predict(model, history: DataFrame, users: DataFrame, allowed: DataFrame, k: int,
                weights: bool) -> DataFrame:
    """Fit a RePlay model on the history, predict k items per user among the allowed
    ones, the user's seen items excluded: (user_id, item_id, score), materialised."""
    from replay.data import Dataset, FeatureHint, FeatureInfo, FeatureSchema, FeatureType

    user_index = dense_index(history.select("user_id"), "user")
    item_index = dense_index(history.select("item_id"), "item")
    rating = F.sum(action_weight()) if weights else F.lit(1.0)
    train = (history.groupBy("user_id", "item_id").agg(rating.cast("double").alias("rating"))
             .join(user_index, "user_id").join(item_index, "item_id").select("user_idx", "item_idx", "rating")
             .cache())
    schema = FeatureSchema([
        FeatureInfo("user_idx", FeatureType.CATEGORICAL, FeatureHint.QUERY_ID),
        FeatureInfo("item_idx", FeatureType.CATEGORICAL, FeatureHint.ITEM_ID),
        FeatureInfo("rating", FeatureType.NUMERICAL, FeatureHint.RATING),
    ])
    dataset = Dataset(schema, train, categorical_encoded=True)
    model.fit(dataset)
    queries = user_index.join(users, "user_id", "left_semi").select("user_idx")
    candidates = item_index.join(allowed, "item_id", "left_semi").select("item_idx")
    recs = model.predict(dataset, k=k, queries=queries, items=candidates, filter_seen_items=True)
    # materialised (the caller releases it), so the model's cached frames can go
    scores = materialise(recs.join(user_index, "user_idx").join(item_index, "item_idx")
                         .select("user_id", "item_id", F.col("rating").alias("score")))
    train.unpersist()
    model._clear_cache()  # noqa: SLF001 - RePlay's own release of what fit cached
    return scores


def als(rank: int, seed: int):
    from replay.models import ALSWrap

    return ALSWrap(rank=rank, implicit_prefs=True, seed=seed)


def item_knn(neighbours: int):
    from replay.models import ItemKNN

    return ItemKNN(num_neighbours=neighbours)


def lists(scores: DataFrame, inputs: BaselineInputs) -> DataFrame:
    out = materialise(top_k(scores, inputs.k, exclude=inputs.seen, allowed=inputs.allowed))
    release(scores)
    return out


def als_lists(inputs: BaselineInputs) -> DataFrame:
    p = inputs.params
    return lists(fit_predict(als(p.als_rank, p.seed), inputs.history, inputs.users, inputs.allowed, inputs.k, True),
                 inputs)


def item_knn_lists(inputs: BaselineInputs) -> DataFrame:
    return lists(fit_predict(item_knn(inputs.params.knn_neighbours), inputs.history, inputs.users, inputs.allowed,
                             inputs.k, False), inputs)
