import math
import random

import pytest

from shoprank.ml.diagnostics import logloss, per_user_metrics, summarize


def reference(groups, k):
    """Plain-Python HR@k, NDCG@k and pairwise AUC, averaged over users with a positive."""
    hr, ndcg, auc = [], [], []
    for items in groups.values():
        ranked = sorted(items, key=lambda x: (-x[2], x[0]))
        labels = [lab for _, lab, _ in ranked]
        n_pos = sum(labels)
        if n_pos == 0:
            continue
        hr.append(1.0 if any(labels[:k]) else 0.0)
        dcg = sum(lab / math.log2(i + 2) for i, lab in enumerate(labels[:k]))
        idcg = sum(1 / math.log2(i + 2) for i in range(min(n_pos, k)))
        ndcg.append(dcg / idcg)
        pos = [s for _, lab, s in items if lab]
        neg = [s for _, lab, s in items if not lab]
        if neg:
            wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
            auc.append(wins / (len(pos) * len(neg)))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {f"hr@{k}": mean(hr), f"ndcg@{k}": mean(ndcg), "auc": mean(auc), "n_users": len(hr)}


@pytest.mark.parametrize("seed", [1, 2])
def test_metrics_match_plain_python_reference(spark, seed):
    rng = random.Random(seed)
    groups, data = {}, []
    for u in range(40):
        n = rng.randint(3, 30)
        for i in range(n):
            label = 1 if rng.random() < 0.2 else 0
            score = round(rng.random(), 1)  # coarse scores: many ties
            groups.setdefault(f"u{u}", []).append((f"i{i:02d}", label, score))
            data.append((f"u{u}", f"i{i:02d}", float(label), score))
    df = spark.createDataFrame(data, "user_id string, item_id string, label float, score double")
    got = summarize(per_user_metrics(df, "score", 10), 10)
    want = reference(groups, 10)
    assert got["n_users"] == want["n_users"]
    for key in ("hr@10", "ndcg@10", "auc"):
        assert got[key] == pytest.approx(want[key], abs=1e-9), key


def test_perfect_and_reversed_rankings(spark):
    data = [("u", f"i{i}", float(i < 2), float(10 - i)) for i in range(12)]
    df = spark.createDataFrame(data, "user_id string, item_id string, label float, score double")
    best = summarize(per_user_metrics(df, "score", 10), 10)
    assert (best["hr@10"], best["ndcg@10"], best["auc"]) == (1.0, pytest.approx(1.0), 1.0)
    worst = summarize(per_user_metrics(df.withColumn("score", -df.score), "score", 10), 10)
    assert (worst["hr@10"], worst["ndcg@10"], worst["auc"]) == (0.0, 0.0, 0.0)


def test_logloss_matches_plain_python(spark):
    data = [(1.0, 0.9), (0.0, 0.2), (1.0, 0.4), (0.0, 0.0)]
    df = spark.createDataFrame(data, "label float, score double")
    clip = lambda p: min(max(p, 1e-7), 1 - 1e-7)  # noqa: E731
    want = -sum(y * math.log(clip(p)) + (1 - y) * math.log(1 - clip(p)) for y, p in data) / len(data)
    assert logloss(df, "score") == pytest.approx(want)
