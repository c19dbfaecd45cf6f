"""The ranker (model) and what it is trained for (tasks), apart from the loop.

The model scores one (user, candidate) pair from its numeric features (each recall
source's score and rank, item, user and pair statistics, text similarities) plus
hashed item and category embeddings: a deep part (an MLP) and a wide part (a linear
combination of the normalised features, which small data can still fit). It starts
as reciprocal-rank fusion of the recall sources, a strong ranking with no training
(or a fusion weighting each source by its quality on the training lists, or one
source's own ranking, whichever ranks the labelled lists best: `priors`), so that
training on little data refines a good list instead of starting from noise. Inputs are
normalised with the training rows' means and deviations, fixed in the model, so
serving needs nothing but the saved file. Ids are hashed inside the model: no
vocabulary is collected and unseen ids simply hash to a bucket.

A task scores whole lists (one per user and label window) and says what is wrong:
`ListwiseTask` is a softmax over each list (the positives' share of probability),
`BinaryTask` a per-item logistic loss. Both report NDCG@k of the lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

STRING_INPUTS = ("item_id", "category")


@dataclass(frozen=True)
class ModelSpec:
    feature_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    embedding_dim: int
    item_buckets: int
    category_buckets: int
    hidden: tuple[int, ...] = (64, 32)
    prior_weight: float = 1.0  # the start: reciprocal-rank fusion of the sources (0: random)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)


def build_ranker(spec: ModelSpec) -> tf.keras.Model:
    """Keras model: {features [B, F], item_id [B], category [B]} -> logit [B]."""
    features = tf.keras.Input(shape=(spec.n_features,), dtype=tf.float32, name="features")
    item_id = tf.keras.Input(shape=(), dtype=tf.string, name="item_id")
    category = tf.keras.Input(shape=(), dtype=tf.string, name="category")
    x = tf.keras.layers.Normalization(mean=np.asarray(spec.mean), variance=np.square(np.asarray(spec.std)),
                                      name="normalise")(features)
    reg = tf.keras.regularizers.l2(1e-5)
    item = tf.keras.layers.Embedding(spec.item_buckets, spec.embedding_dim, embeddings_regularizer=reg,
                                     name="item_embedding")(
        tf.keras.layers.Hashing(spec.item_buckets, name="item_hash")(item_id))
    cat = tf.keras.layers.Embedding(spec.category_buckets, max(4, spec.embedding_dim // 2),
                                    embeddings_regularizer=reg, name="category_embedding")(
        tf.keras.layers.Hashing(spec.category_buckets, name="category_hash")(category))
    deep = tf.keras.layers.Concatenate(name="all_inputs")([x, item, cat])
    for i, width in enumerate(spec.hidden):
        deep = tf.keras.layers.Dense(width, activation="relu", kernel_regularizer=reg, name=f"hidden_{i}")(deep)
    # The untrained model is a fusion of the recall sources: the wide part starts as
    # prior_weight * sum of each source's inverse rank (undoing the normalisation) and
    # the deep part at zero. Training moves away from that only if validation says so.
    deep = tf.keras.layers.Dense(1, kernel_initializer="zeros", name="deep_logit")(deep)
    wide = tf.keras.layers.Dense(1, kernel_initializer=tf.keras.initializers.Constant(_prior(spec)),
                                 name="wide_logit")(x)
    logit = tf.keras.layers.Add(name="logit")([deep, wide])
    return tf.keras.Model({"features": features, "item_id": item_id, "category": category},
                          tf.keras.layers.Reshape(())(logit), name="shoprank_ranker")


def _sources(spec: ModelSpec) -> list[str]:
    """The recall sources whose inverse rank is a feature, in feature order."""
    return [n[len("inv_rank_"):] for n in spec.feature_names if n.startswith("inv_rank_")]


def _wide(spec: ModelSpec, weight: dict[str, float]) -> np.ndarray:
    """Wide weights [F, 1] on normalised features: `weight[source]` on each source's
    inverse rank (undoing the normalisation), zero on everything else."""
    w = [spec.prior_weight * sd * weight[name[len("inv_rank_"):]] if name.startswith("inv_rank_") else 0.0
         for name, sd in zip(spec.feature_names, spec.std, strict=True)]
    return np.asarray(w, dtype=np.float32).reshape(-1, 1)


def _prior(spec: ModelSpec, only: str | None = None) -> np.ndarray:
    """Wide weights [F, 1] of reciprocal-rank fusion over normalised features; with
    `only`, that source's ranking, the fusion (a hundredth of it) breaking its ties and
    ordering the items it did not find."""
    return _wide(spec, {s: 1.0 if only is None or s == only else 0.01 for s in _sources(spec)})


def weighted_prior(spec: ModelSpec, quality: dict[str, float], power: float) -> np.ndarray:
    """Wide weights [F, 1] of a fusion in which each source's inverse rank counts by its
    `quality` (NDCG on the training lists, by source name) to the power `power`, scaled
    to average 1 as in the plain fusion: weak sources stop diluting strong ones. With no
    usable quality (none above zero), the plain fusion."""
    weight = source_weights(_sources(spec), quality, power)
    return _wide(spec, weight) if weight else _prior(spec)


def source_weights(names: list[str], quality: dict[str, float], power: float) -> dict[str, float]:
    """Each source's weight in the weighted fusion: its `quality` (missing, NaN or not above
    zero: 0) to the power `power`, scaled to average 1; empty when no quality is usable."""
    q = np.array([quality.get(n, np.nan) for n in names], dtype=np.float64)
    a = np.where(np.isfinite(q) & (q > 0), q, 0.0) ** power
    return dict(zip(names, a * len(a) / a.sum(), strict=True)) if a.sum() > 0 else {}


def priors(spec: ModelSpec) -> dict[str, np.ndarray]:
    """The untrained starts training may begin from, by name: the fusion of every
    source, then each source's own ranking (the loop adds `weighted_prior` once it knows
    the sources' quality). The labelled lists pick one: a shop where one source is hard
    to beat starts from it."""
    return {"fusion": _prior(spec), **{f"source:{s}": _prior(spec, s) for s in _sources(spec)}}


def start_kernel(spec: ModelSpec, name: str, quality: dict[str, float], power: float) -> np.ndarray:
    """Wide weights [F, 1] of the start training calls `name` (`priors`, or the weighted
    fusion with this source quality and power), as `training.json` records it."""
    return weighted_prior(spec, quality, power) if name == "weighted_fusion" else priors(spec)[name]


def score_lists(model: tf.keras.Model, batch: dict) -> tf.Tensor:
    """Logits [B, N] of padded lists: the pair model applied to every (list, position)."""
    shape = tf.shape(batch["label"])
    flat = {"features": tf.reshape(batch["features"], [-1, batch["features"].shape[-1]]),
            "item_id": tf.reshape(batch["item_id"], [-1]), "category": tf.reshape(batch["category"], [-1])}
    return tf.reshape(model(flat, training=True), shape)


def ndcg_at(logits: tf.Tensor, labels: tf.Tensor, mask: tf.Tensor, k: int) -> tf.Tensor:
    """NDCG@k of each list [B]: padding ranks last and never counts."""
    masked = tf.where(mask, logits, tf.fill(tf.shape(logits), tf.constant(-1e9, logits.dtype)))
    k = tf.minimum(k, tf.shape(logits)[1])
    order = tf.math.top_k(masked, k=k).indices
    gains = tf.gather(labels * tf.cast(mask, labels.dtype), order, batch_dims=1)
    discounts = 1.0 / (tf.math.log(tf.cast(tf.range(k), tf.float32) + 2.0) / tf.math.log(2.0))
    dcg = tf.reduce_sum(gains * discounts, axis=1)
    ideal = tf.math.top_k(labels * tf.cast(mask, labels.dtype), k=k).values
    idcg = tf.reduce_sum(ideal * discounts, axis=1)
    return tf.math.divide_no_nan(dcg, idcg)


@dataclass(frozen=True)
class ListwiseTask:
    """Softmax over each list: minimise -sum(positives' log-probability) / positives."""

    name = "listwise"

    def loss(self, logits: tf.Tensor, labels: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        masked = tf.where(mask, logits, tf.fill(tf.shape(logits), tf.constant(-1e9, logits.dtype)))
        log_p = tf.nn.log_softmax(masked, axis=1)
        per_list = -tf.math.divide_no_nan(tf.reduce_sum(labels * log_p, axis=1), tf.reduce_sum(labels, axis=1))
        return tf.reduce_mean(per_list)


@dataclass(frozen=True)
class BinaryTask:
    """Logistic loss per item (a positive against each negative, alone)."""

    name = "binary"

    def loss(self, logits: tf.Tensor, labels: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        per_item = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        weights = tf.cast(mask, per_item.dtype)
        return tf.math.divide_no_nan(tf.reduce_sum(per_item * weights), tf.reduce_sum(weights))


TASKS = {"listwise": ListwiseTask, "binary": BinaryTask}
