"""The backtest's interval on the headline ratio, checked against a plain numpy bootstrap."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
from pyspark.sql import functions as F

from shoprank import bootstrap
from shoprank.schemas import BACKTEST_USERS

NIGHTS = (dt.date(2026, 11, 1), dt.date(2026, 11, 2))


def per_user(spark, pairs):
    """(night, user, a, b) -> BACKTEST_USERS rows of a model "m" and a baseline "b"."""
    rows = [r for night, user, a, b in pairs for r in ((night, "m", user, a), (night, "b", user, b))]
    return spark.createDataFrame(rows, BACKTEST_USERS)


def test_poisson_weights_have_the_poisson_1_distribution(spark):
    w = spark.range(200_000).withColumn("u", F.rand(3)).select(bootstrap.poisson_weight(F.col("u")).alias("w"))
    share = {r.w: r["count"] / 200_000 for r in w.groupBy("w").count().collect()}
    for k in range(4):
        assert abs(share[k] - math.exp(-1) / math.factorial(k)) < 0.005


def test_a_constant_ratio_has_a_zero_width_interval(spark):
    pairs = [(n, f"u{i}", 0.1 * (i % 5 + 1), 0.05 * (i % 5 + 1)) for n in NIGHTS for i in range(40)]
    ci = bootstrap.ratio_interval(spark, per_user(spark, pairs), "m", "b", 200, seed=1)
    assert math.isclose(ci["lo"], 2.0) and math.isclose(ci["hi"], 2.0) and ci["share_above_target"] == 1.0
    assert ci["hits"] == 80 and ci["determined"]


def test_too_few_hits_leave_the_interval_undetermined(spark):
    pairs = [(NIGHTS[0], f"u{i}", 0.5 * (i < 3), 0.4 * (1 <= i < 5)) for i in range(50)]  # hits: u0..u4
    ci = bootstrap.ratio_interval(spark, per_user(spark, pairs), "m", "b", 100, seed=1, min_hits=6)
    assert ci["hits"] == 5 and not ci["determined"]
    assert bootstrap.ratio_interval(spark, per_user(spark, pairs), "m", "b", 100, seed=1, min_hits=5)["determined"]


def test_the_interval_matches_a_numpy_poisson_bootstrap(spark):
    rng = np.random.default_rng(0)
    users = 300
    a = {n: (rng.random(users) < 0.15) * rng.random(users) for n in NIGHTS}  # sparse hits, as NDCG is
    b = {n: (rng.random(users) < 0.10) * rng.random(users) for n in NIGHTS}
    pairs = [(n, f"u{i}", float(a[n][i]), float(b[n][i])) for n in NIGHTS for i in range(users)]
    ci = bootstrap.ratio_interval(spark, per_user(spark, pairs), "m", "b", 1000, seed=2)

    reps = []
    for _ in range(4000):
        w = {n: rng.poisson(1.0, users) for n in NIGHTS}
        ma = np.mean([(w[n] * a[n]).sum() / w[n].sum() for n in NIGHTS])
        mb = np.mean([(w[n] * b[n]).sum() / w[n].sum() for n in NIGHTS])
        reps.append(ma / mb)
    lo, hi = np.quantile(reps, [0.025, 0.975])
    point = np.mean([a[n].mean() for n in NIGHTS]) / np.mean([b[n].mean() for n in NIGHTS])
    assert lo < point < hi and ci["lo"] < point < ci["hi"]
    # Monte Carlo error of a 2.5% quantile from 1000 replicates: a few percent.
    assert abs(ci["lo"] - lo) < 0.08 * point and abs(ci["hi"] - hi) < 0.08 * point
    assert ci["replicates"] == 1000


def test_no_interval_without_replicates_or_baseline_hits(spark):
    pairs = [(NIGHTS[0], f"u{i}", 0.5, 0.0) for i in range(10)]
    assert bootstrap.ratio_interval(spark, per_user(spark, pairs), "m", "b", 0, seed=1) is None
    assert bootstrap.ratio_interval(spark, per_user(spark, pairs), "m", "b", 50, seed=1) is None

