"""Baseline `ease`: EASE (Steck 2019), the linear item-item model
B = I - P / diag(P), P = (X'X + lambda I)^-1, over a binary user-item matrix X.

It inverts an items x items matrix, so it runs on the `backtest.ease_max_items` items
most users interacted with (all of a catalogue that fits; the share of interactions
they cover is logged). The user-item pairs stream into one executor task, which builds
X sparse, computes X'X, inverts it and emits each item's `backtest.ease_neighbours`
largest weights (by magnitude); nothing but counts reaches the driver. (A Gram matrix
from a Spark self-join took 136 s on MovieLens; the sparse product takes seconds.)
Scores are computed in Spark, joining those weights to the users' histories. The
`ease` recall source uses the same code, and the `neighbours` source the same streaming
with its own solver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.baselines import BaselineInputs, dense_index, top_k
from shoprank.materialise import materialise

log = logging.getLogger(__name__)
EDGES = pa.schema([("i", pa.int32()), ("j", pa.int32()), ("w", pa.float64())])
Solve = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]  # pairs in, edges out (mapInArrow)


def weights(gram: np.ndarray, lam: float) -> np.ndarray:
    """EASE's B for a Gram matrix X'X (dense, symmetric): zero diagonal.

    X'X + lambda I is symmetric positive definite (lambda > 0), so it is inverted by its
    Cholesky factor (LAPACK potrf/potri), in place: half the flops of a general inverse
    (with the in-place division, 9,700 items: 11.1 s against 31.5 s here; bench/bench_ease.py) and no second matrix.
    A factorisation that fails (a Gram matrix that is not positive definite) falls back
    to the general inverse."""
    from scipy.linalg import lapack

    g = np.array(gram, dtype=np.float64, order="F")  # a copy LAPACK may overwrite
    g[np.diag_indices_from(g)] += lam
    c, info = lapack.dpotrf(g, lower=False, overwrite_a=True)
    if info == 0:
        p, info = lapack.dpotri(c, lower=False, overwrite_c=True)
    if info == 0:  # potri fills the upper triangle: mirror it
        lower = np.tril_indices_from(p, -1)
        p[lower] = p.T[lower]
    else:
        g = gram.astype(np.float64)
        g[np.diag_indices_from(g)] += lam
        p = np.linalg.inv(g)
    d = np.diag(p).copy()
    p /= -d  # B = -P / diag(P), column-wise, in place
    p[np.diag_indices_from(p)] = 0.0
    return p


def pruned(b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, weight) of each row's n largest weights by magnitude."""
    n = min(n, b.shape[1])
    cols = np.argpartition(-np.abs(b), n - 1, axis=1)[:, :n]
    rows = np.repeat(np.arange(b.shape[0]), n)
    cols = cols.reshape(-1)
    return rows, cols, b[rows, cols]


def solver(n: int, lam: float, neighbours: int):
    """mapInArrow function: user-item pairs (u, i) in, pruned EASE weights out. With a
    column `w`, a pair weighs sqrt(w) in X, so it adds w to its items' co-occurrences,
    and lambda scales by the pairs' mean w: regularised as strongly against the data as
    on binary pairs."""

    def solve(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from scipy import sparse

        got = columns(batches)
        u, i = got["u"], got["i"]
        w = got.get("w", np.ones(len(u)))
        x = sparse.csr_matrix((np.sqrt(w), (u, i)), shape=(int(u.max()) + 1 if len(u) else 0, n))
        scale = float(w.mean()) if len(w) else 1.0
        yield from edges(*pruned(weights((x.T @ x).toarray(), lam * scale), neighbours))

    return solve


def columns(batches: Iterator[pa.RecordBatch]) -> dict[str, np.ndarray]:
    """Every column of a solver's input batches, concatenated (u and i empty when none)."""
    parts: dict[str, list[np.ndarray]] = {"u": [], "i": []}
    for batch in batches:
        for name in batch.schema.names:
            parts.setdefault(name, []).append(batch.column(name).to_numpy())
    return {name: np.concatenate(p) if p else np.zeros(0, int) for name, p in parts.items()}


def edges(rows: np.ndarray, cols: np.ndarray, w: np.ndarray) -> Iterator[pa.RecordBatch]:
    """A solver's pruned weights as Arrow batches of EDGES."""
    for lo in range(0, len(rows), 1 << 20):
        yield pa.RecordBatch.from_arrays([pa.array(rows[lo:lo + (1 << 20)].astype(np.int32)),
                                          pa.array(cols[lo:lo + (1 << 20)].astype(np.int32)),
                                          pa.array(w[lo:lo + (1 << 20)])], schema=EDGES)


def scores(pairs: DataFrame, users: DataFrame, max_items: int, solve: Callable[[int], Solve],
           finish: Callable[[DataFrame], DataFrame], strength: DataFrame | None = None) -> DataFrame:
    """An item-item model's scores (user_id, item_id, score) of the given users from
    (user_id, item_id) pairs, passed through `finish` (exclusions, top n) and
    materialised (the caller releases it), so the intermediate frames can go. The pairs
    of the `max_items` items most users had stream into one task, `solve(items)` (as
    u, i and every further column of `pairs`), which returns the model's pruned edges
    (i, j, w): EASE's closed form (`solver`; Steck's on binary pairs, or on their weights
    when `pairs` has a column `w`) or another item-item model. A user's items weigh 1 in
    the scores (x_u B), or `strength`'s `s` when given (user_id, item_id, s: one row per
    pair). Runs actions."""
    counts = pairs.groupBy("item_id").agg(F.count(F.lit(1)).alias("users"))
    kept = counts.orderBy(F.col("users").desc(), "item_id").limit(max_items)
    index = dense_index(kept.select("item_id"), "item").cache()
    n = index.count()
    fit = [c for c in pairs.columns if c not in ("user_id", "item_id")]
    x = pairs.join(index, "item_id").select("user_id", "item_id", "item_idx", *fit).cache()
    covered, total = x.count(), pairs.count()
    log.info("Item-item model on %d items, %.1f%% of the user-item pairs", n, 100.0 * covered / max(total, 1))
    user_index = dense_index(x.select("user_id"), "user")
    pairs_idx = x.join(user_index, "user_id").select(F.col("user_idx").alias("u"), F.col("item_idx").alias("i"), *fit)
    edges = pairs_idx.coalesce(1).mapInArrow(solve(n), "i int, j int, w double")
    held = x.join(users, "user_id", "left_semi").select("user_id", "item_id", "item_idx")
    held = held.withColumn("s", F.lit(1.0)) if strength is None else held.join(strength, ["user_id", "item_id"])
    scored = (held.join(edges, held.item_idx == edges.i)
              .groupBy("user_id", "j").agg(F.sum(F.col("s") * F.col("w")).alias("score"))
              .join(index.withColumnRenamed("item_idx", "j"), "j").select("user_id", "item_id", "score"))
    out = materialise(finish(scored))  # before the cached inputs go
    x.unpersist()
    index.unpersist()
    return out


def lists(inputs: BaselineInputs) -> DataFrame:
    p = inputs.params
    return scores(inputs.seen, inputs.users, p.ease_max_items, partial(solver, lam=p.ease_lambda,
                                                                       neighbours=p.ease_neighbours),
                  lambda s: top_k(s, inputs.k, exclude=inputs.seen, allowed=inputs.allowed))
