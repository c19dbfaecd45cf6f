"""How sure the backtest's headline is: a paired bootstrap interval for shoprank's mean
NDCG over a baseline's.

The units are (night, user) pairs, each with both lists' NDCG (paired: the same users
score every list). A replicate reweights every unit by a Poisson(1) count (the Poisson
bootstrap: each unit draws its own weight, so replicates need no resampling shuffle),
recomputes each night's mean NDCG of both lists and the ratio of their means over
nights, as the headline is computed. Spark does the sums; only replicates x nights sums
reach the driver.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

# P(X <= k) for X ~ Poisson(1), k = 0..8; draws above 8 (p < 1e-5) count as 9.
POISSON_1_CDF = tuple(sum(math.exp(-1) / math.factorial(j) for j in range(k + 1)) for k in range(9))


def poisson_weight(uniform: Column) -> Column:
    """A Poisson(1) draw from a uniform one, by inverting the distribution function. The
    uniform must be a column already drawn (`withColumn`), not `F.rand()` itself: each
    mention of `rand` in an expression draws anew."""
    w = F.lit(len(POISSON_1_CDF))
    for k in reversed(range(len(POISSON_1_CDF))):
        w = F.when(uniform < POISSON_1_CDF[k], F.lit(k)).otherwise(w)
    return w


def paired(per_user: DataFrame, model: str, baseline: str) -> DataFrame:
    """BACKTEST_USERS -> (night, user_id, a, b): the model's and the baseline's NDCG."""
    def one(name: str, alias: str) -> DataFrame:
        return per_user.filter(F.col("model") == name).select("night", "user_id", F.col("ndcg").alias(alias))

    return one(model, "a").join(one(baseline, "b"), ["night", "user_id"])


def replicate_sums(spark: SparkSession, pairs: DataFrame, replicates: int, seed: int) -> DataFrame:
    """(rep, night, sa, sb, n): weighted sums of each replicate and night."""
    reps = spark.range(replicates).select(F.col("id").cast("int").alias("rep"))
    weighted = (pairs.crossJoin(reps).withColumn("u", F.rand(seed))
                .withColumn("w", poisson_weight(F.col("u"))))
    return weighted.groupBy("rep", "night").agg(F.sum(F.col("w") * F.col("a")).alias("sa"),
                                                F.sum(F.col("w") * F.col("b")).alias("sb"),
                                                F.sum("w").alias("n"))


def ratios(sums: list[tuple]) -> list[float]:
    """Per replicate, mean over nights of the model's mean NDCG over the baseline's."""
    by_rep = defaultdict(list)
    for rep, _, sa, sb, n in sums:
        if n:
            by_rep[rep].append((sa / n, sb / n))
    out = []
    for nights in by_rep.values():
        a = sum(x for x, _ in nights) / len(nights)
        b = sum(y for _, y in nights) / len(nights)
        if b > 0:
            out.append(a / b)
    return sorted(out)


def ratio_interval(spark: SparkSession, per_user: DataFrame, model: str, baseline: str, replicates: int,
                   seed: int, level: float = 0.95, target: float = 1.2, min_hits: int = 0) -> dict | None:
    """{lo, hi, level, replicates, share_above_target, target, hits, determined} of the
    model's NDCG over the baseline's, or None when no replicate has a ratio (no units, or
    the baseline never hits). `hits` counts units where either list hits; below
    `min_hits` the interval is computed but not `determined`. Actions."""
    if replicates < 1:
        return None
    units = paired(per_user, model, baseline).cache()
    hits = units.filter((F.col("a") > 0) | (F.col("b") > 0)).count()
    sums = replicate_sums(spark, units, replicates, seed).collect()
    units.unpersist()
    r = ratios([(s.rep, s.night, s.sa, s.sb, s.n) for s in sums])
    if not r:
        return None
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return {"lo": float(lo), "hi": float(hi), "level": level, "replicates": len(r),
            "target": target, "share_above_target": sum(x >= target for x in r) / len(r),
            "hits": hits, "determined": hits >= min_hits}
