"""Parquet shards -> tf.data, streaming by record batch (no whole-file loads)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow.parquet as pq
import tensorflow as tf

from shoprank.ml.model import NUMERIC_FEATURES, STRING_FEATURES


def count_rows(files: Sequence[str]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _batches(files: Sequence[str], batch_size: int) -> Iterator[tuple[dict, np.ndarray]]:
    cols = list(STRING_FEATURES) + list(NUMERIC_FEATURES) + ["label"]
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=cols):
            data = batch.to_pydict()
            feats = {n: np.asarray(data[n], dtype=object) for n in STRING_FEATURES}
            feats.update({n: np.asarray(data[n], dtype=np.float32) for n in NUMERIC_FEATURES})
            yield feats, np.asarray(data["label"], dtype=np.float32)


def make_dataset(files: Sequence[str], batch_size: int, shuffle_buffer: int = 8, seed: int = 0) -> tf.data.Dataset:
    signature = (
        {**{n: tf.TensorSpec((None,), tf.string) for n in STRING_FEATURES},
         **{n: tf.TensorSpec((None,), tf.float32) for n in NUMERIC_FEATURES}},
        tf.TensorSpec((None,), tf.float32),
    )
    ds = tf.data.Dataset.from_generator(lambda: _batches(files, batch_size), output_signature=signature)
    # Shuffle across record batches, then rows within a window of them.
    return ds.unbatch().shuffle(shuffle_buffer * batch_size, seed=seed).batch(batch_size).prefetch(2)
