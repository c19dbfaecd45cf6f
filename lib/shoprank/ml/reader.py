"""List shards (any location the artifact store names) -> tf.data of padded lists.

Shards hold one row per (list, item), rows of a list together (the examples stage
partitions by list and sorts within partitions). A list becomes fixed-size tensors:
item_id [N], category [N], features [N, F], label [N], mask [N]; padding is masked.
Files stream by record batch: no whole-file loads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow.parquet as pq
import tensorflow as tf

from shoprank.storage import fs

COLUMNS = ["list_id", "item_id", "category", "features", "label"]


def _open(location: str) -> pq.ParquetFile:
    filesystem, path = fs.resolve(location)
    return pq.ParquetFile(filesystem.open_input_file(path))


def with_rows(files: Sequence[str]) -> list[str]:
    """The files that hold at least one row (read from each file's footer, not its data):
    Spark may leave an empty part file where a split had no lists."""
    return [f for f in files if _open(f).metadata.num_rows]


def count_lists(files: Sequence[str]) -> int:
    """Distinct lists in the files (one column read)."""
    return sum(len(set(_open(f).read(columns=["list_id"]).column(0).to_pylist())) for f in files)


def lists(files: Sequence[str], n_features: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(item_id [n], category [n], features [n, F], label [n]) per list, in file order."""
    for path in files:
        pending: list = []
        current = None
        for batch in _open(path).iter_batches(batch_size=8192, columns=COLUMNS):
            ids = batch.column("list_id").to_numpy(zero_copy_only=False)
            items = batch.column("item_id").to_numpy(zero_copy_only=False)
            cats = batch.column("category").to_numpy(zero_copy_only=False)
            feats = batch.column("features").flatten().to_numpy(zero_copy_only=False).reshape(-1, n_features)
            labels = batch.column("label").to_numpy(zero_copy_only=False)
            bounds = np.flatnonzero(ids[1:] != ids[:-1]) + 1
            for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(ids)], strict=True):
                if current is not None and ids[lo] != current:
                    yield _join(pending)
                    pending = []
                current = ids[lo]
                pending.append((items[lo:hi], cats[lo:hi], feats[lo:hi], labels[lo:hi]))
        if pending:
            yield _join(pending)


def _join(parts: list) -> tuple:
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


def padded(files: Sequence[str], n_features: int, size: int) -> Iterator[dict]:
    """Each list padded (or cut) to `size` items."""
    for items, cats, feats, labels in lists(files, n_features):
        n = min(len(items), size)
        out = {"item_id": np.full(size, "", dtype=object), "category": np.full(size, "", dtype=object),
               "features": np.zeros((size, n_features), np.float32), "label": np.zeros(size, np.float32),
               "mask": np.zeros(size, bool)}
        out["item_id"][:n], out["category"][:n] = items[:n], cats[:n]
        out["features"][:n], out["label"][:n], out["mask"][:n] = feats[:n], labels[:n], True
        yield out


def dataset(files: Sequence[str], n_features: int, size: int, batch: int, shuffle: int = 0,
            seed: int = 0) -> tf.data.Dataset:
    signature = {"item_id": tf.TensorSpec((size,), tf.string), "category": tf.TensorSpec((size,), tf.string),
                 "features": tf.TensorSpec((size, n_features), tf.float32),
                 "label": tf.TensorSpec((size,), tf.float32), "mask": tf.TensorSpec((size,), tf.bool)}
    ds = tf.data.Dataset.from_generator(lambda: padded(files, n_features, size), output_signature=signature)
    if shuffle:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch).prefetch(2)
