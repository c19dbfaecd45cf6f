"""Recall source `neighbours`: what the users most like this one took lately. User-kNN
over every user, the neighbours weighing their cosine similarity over whole histories,
counting only what they took in the popularity charts' window (`popular_days`, reaching
back to `popular_min_events` events): the chart, personalised. On movie logs the chart is
hard to beat because what users take next is what is new, and EASE, which knows whose
taste is whose, does not know what is new; this source knows both (bench/neighbours.py:
1.07x and 1.05x the better of the chart and EASE on ML-100k and ml-latest-small as
shipped, 1.10x and 1.06x with every weight kept).

Computed in item form, so no user-user matrix is formed: with X the users' binary
histories, each row scaled to unit length, and R their items in the window,
score(u, i) = sum_v cos(u, v) R[v, i] = (x_u / |x_u|) (X' R)[:, i], and the items x items
matrix M = X' R (M[j, i]: users who had j and lately took i, each weighing 1 / |x_v|) is
built in one task over the `neighbours_max_items` items most users had, pruned to each
item's `neighbours_kept` largest weights, and applied in Spark as the `ease` source
applies EASE's, a user's r-th most recent item weighing 1 / (1 + r / ease_recent_items).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.baselines import ease
from shoprank.recall import RecallInputs, top_per_user
from shoprank.recall.ease import last_touch, recency_weights


def solver(n: int, kept: int):
    """mapInArrow function: pairs (u, i, recent) in, M's pruned rows out (see above)."""

    def solve(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from scipy import sparse

        got = ease.columns(batches)
        u, i = got["u"], got["i"]
        users = int(u.max()) + 1 if len(u) else 0
        norm = np.sqrt(np.bincount(u, minlength=users).astype(np.float64))
        x = sparse.csr_matrix((1.0 / norm[u], (u, i)), shape=(users, n))
        late = got.get("recent", np.zeros(len(u))) > 0
        r = sparse.csr_matrix((np.ones(int(late.sum())), (u[late], i[late])), shape=(users, n))
        m = (x.T @ r).toarray()
        m[np.diag_indices_from(m)] = 0.0
        rows, cols, w = ease.pruned(m, kept)
        yield from ease.edges(rows[w > 0], cols[w > 0], w[w > 0])  # a zero says nothing

    return solve


def candidates(inputs: RecallInputs) -> DataFrame:
    """Materialised (in `ease.scores`), so the model's frames can be released."""
    p = inputs.params
    last = last_touch(inputs.history)
    pairs = last.select("user_id", "item_id", (F.col("last") >= F.lit(inputs.chart_from)).cast("double").alias("recent"))

    def finish(scored: DataFrame) -> DataFrame:
        fresh = scored.join(pairs, ["user_id", "item_id"], "left_anti").join(inputs.allowed, "item_id", "left_semi")
        return top_per_user(fresh, p.per_source).select("user_id", "item_id", "score")

    strength = recency_weights(last, p.ease_recent_items) if p.ease_recent_items else None
    return ease.scores(pairs, inputs.users.select("user_id"), p.neighbours_max_items,
                       lambda n: solver(n, p.neighbours_kept), finish, strength)
