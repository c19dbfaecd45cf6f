"""Baseline `item_knn` from RePlay (`replay-rec`, the maintained PySpark recommender
library): ItemKNN, cosine similarity over co-occurrence. Ids are encoded to dense
integers in Spark (zipWithIndex, nothing collected); RePlay filters each user's seen
items. The `item_knn` recall source uses the same code."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.baselines import BaselineInputs, dense_index, top_k
from shoprank.materialise import materialise, release


def fit_predict(model, history: DataFrame, users: DataFrame, allowed: DataFrame, k: int) -> DataFrame:
    """Fit a RePlay model on the history's (user, item) pairs, predict k items per user
    among the allowed ones, the user's seen items excluded: (user_id, item_id, score),
    materialised."""
    from replay.data import Dataset, FeatureHint, FeatureInfo, FeatureSchema, FeatureType

    user_index = dense_index(history.select("user_id"), "user")
    item_index = dense_index(history.select("item_id"), "item")
    train = (history.select("user_id", "item_id").distinct().withColumn("rating", F.lit(1.0))
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


def item_knn(neighbours: int):
    from replay.models import ItemKNN

    return ItemKNN(num_neighbours=neighbours)


def item_knn_lists(inputs: BaselineInputs) -> DataFrame:
    scores = fit_predict(item_knn(inputs.params.knn_neighbours), inputs.history, inputs.users, inputs.allowed,
                         inputs.k)
    out = materialise(top_k(scores, inputs.k, exclude=inputs.seen, allowed=inputs.allowed))
    release(scores)
    return out
