"""The embedding ranker: user and item embeddings plus side features -> a logit.

Ids go through Keras `Hashing` inside the model, so the saved model takes raw
strings and no vocabulary is ever collected to the driver; unseen ids at
serving time simply hash to a bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

STRING_FEATURES = ("user_id", "item_id", "category", "brand")
NUMERIC_FEATURES = ("log_price", "item_popularity", "item_conversion", "category_affinity", "price_gap")


@dataclass(frozen=True)
class ModelSpec:
    # Sizes come from TrainConf (the one place with their defaults).
    embedding_dim: int
    user_buckets: int
    item_buckets: int
    category_buckets: int
    brand_buckets: int
    hidden: tuple[int, ...] = (64, 32)


def build_ranker(spec: ModelSpec) -> tf.keras.Model:
    """Functional Keras model: dict of feature tensors -> logit of a positive interaction."""
    inputs = {name: tf.keras.Input(shape=(), dtype=tf.string, name=name) for name in STRING_FEATURES}
    inputs.update({name: tf.keras.Input(shape=(), dtype=tf.float32, name=name) for name in NUMERIC_FEATURES})
    buckets = {"user_id": spec.user_buckets, "item_id": spec.item_buckets,
               "category": spec.category_buckets, "brand": spec.brand_buckets}
    dims = {"user_id": spec.embedding_dim, "item_id": spec.embedding_dim,
            "category": max(4, spec.embedding_dim // 2), "brand": max(4, spec.embedding_dim // 4)}
    emb = {}
    for name in STRING_FEATURES:
        ids = tf.keras.layers.Hashing(buckets[name], name=f"{name}_hash")(inputs[name])
        emb[name] = tf.keras.layers.Embedding(
            buckets[name], dims[name], embeddings_regularizer=tf.keras.regularizers.l2(1e-6),
            name=f"{name}_embedding")(ids)
    numeric = tf.keras.layers.Concatenate(name="numeric")(
        [tf.keras.layers.Reshape((1,))(inputs[n]) for n in NUMERIC_FEATURES])
    numeric = tf.keras.layers.BatchNormalization(name="numeric_norm")(numeric)
    # Collaborative part: user x item and user x category affinities as dot products.
    user_item = tf.keras.layers.Dot(axes=1, name="user_item_dot")([emb["user_id"], emb["item_id"]])
    user_cat = tf.keras.layers.Dot(axes=1, name="user_category_dot")(
        [tf.keras.layers.Dense(dims["category"], use_bias=False)(emb["user_id"]), emb["category"]])
    x = tf.keras.layers.Concatenate(name="all_features")(
        [emb["user_id"], emb["item_id"], emb["category"], emb["brand"], numeric])
    for i, width in enumerate(spec.hidden):
        x = tf.keras.layers.Dense(width, activation="relu", name=f"hidden_{i}")(x)
    deep = tf.keras.layers.Dense(1, name="deep_logit")(x)
    logit = tf.keras.layers.Add(name="logit")(
        [tf.keras.layers.Reshape((1,))(deep), tf.keras.layers.Reshape((1,))(user_item),
         tf.keras.layers.Reshape((1,))(user_cat)])
    return tf.keras.Model(inputs, tf.keras.layers.Reshape(())(logit), name="shoprank_ranker")


@dataclass(frozen=True)
class RankingTask:
    """Loss and metrics of the ranking task (binary relevance of a user-item pair)."""

    def loss(self) -> tf.keras.losses.Loss:
        return tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def metrics(self) -> list:
        return [tf.keras.metrics.AUC(from_logits=True, name="auc")]
