"""List metrics (what users get) against a plain-Python reference and hand-computed cases."""

import math
import random

import pytest

from shoprank import metrics


def reference(lists, truth, segments, categories, users_before, population, k, catalogue):
    """Plain Python: per user HR, NDCG, recall, precision, MAP, diversity, novelty; means
    per segment and over all; coverage over the evaluated users."""
    per = {}
    for user, segment in segments.items():
        rel = truth[user]
        ranked = sorted(lists.get(user, []), key=lambda x: x[1])[:k]
        hits = [1 if item in rel else 0 for item, _ in ranked]
        dcg = sum(h / math.log2(r + 1) for h, (_, r) in zip(hits, ranked, strict=True))
        idcg = sum(1 / math.log2(i + 1) for i in range(1, min(len(rel), k) + 1))
        ap, found = 0.0, 0
        for h, (_, r) in zip(hits, ranked, strict=True):
            if h:
                found += 1
                ap += found / r
        cats = [categories[i] for i, _ in ranked]
        n = len(cats)
        diversity = (sum(a != b for x, a in enumerate(cats) for y, b in enumerate(cats) if x != y) / (n * (n - 1))
                     if n >= 2 else None)
        novelty = (sum(-math.log2((users_before.get(i, 0) + 1) / (population + 1)) for i, _ in ranked) / n
                   if n else None)
        per[user] = (segment, {"hr": float(any(hits)), "ndcg": dcg / idcg, "recall": sum(hits) / len(rel),
                               "precision": sum(hits) / k, "map": ap / min(len(rel), k), "diversity": diversity,
                               "novelty": novelty})
    out = {}
    for seg in {s for s, _ in per.values()} | {"all"}:
        rows = [m for s, m in per.values() if seg in ("all", s)]
        out[seg] = {m: (sum(v) / len(v) if (v := [r[m] for r in rows if r[m] is not None]) else math.nan)
                    for m in metrics.ACCURACY + metrics.BEYOND}
        out[seg]["users"] = len(rows)
    listed = {i for u in segments for i, r in lists.get(u, []) if r <= k}
    out["all"]["coverage"] = len(listed) / catalogue
    return out


def frames(spark, lists, truth, segments, categories, users_before):
    lf = spark.createDataFrame([(u, i, r) for u, items in lists.items() for i, r in items],
                               "user_id string, item_id string, rank int")
    tf = spark.createDataFrame([(u, i) for u, items in truth.items() for i in items], "user_id string, item_id string")
    uf = spark.createDataFrame(list(segments.items()), "user_id string, segment string")
    itf = spark.createDataFrame([(i, c, users_before.get(i)) for i, c in categories.items()],
                                "item_id string, category string, users_before long")
    return lf, tf, uf, itf


def scored(spark, lists, truth, segments, categories, users_before, population, k, catalogue):
    lf, tf, uf, itf = frames(spark, lists, truth, segments, categories, users_before)
    got = metrics.summarize(metrics.per_user(lf, tf, uf, itf, k, population))
    got["all"]["coverage"] = metrics.coverage(lf, uf, k, catalogue)
    return got


def test_hand_computed_lists(spark):
    # u1: hits at ranks 1 and 3 of 3 relevant; u2: no list (a miss); u3: hit at rank 2 of 1 relevant.
    lists = {"u1": [("a", 1), ("b", 2), ("c", 3)], "u3": [("x", 1), ("a", 2)]}
    truth = {"u1": {"a", "c", "z"}, "u2": {"a"}, "u3": {"a"}}
    segments = {"u1": "heavy", "u2": "cold", "u3": "heavy"}
    categories = {"a": "home", "b": "home", "c": "toys", "x": "toys", "z": "toys"}
    got = scored(spark, lists, truth, segments, categories, {"a": 3, "b": 1}, 3, 3, catalogue=5)
    ndcg_u1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    ndcg_u3 = (1 / math.log2(3)) / 1.0
    assert got["all"]["ndcg"] == pytest.approx((ndcg_u1 + 0 + ndcg_u3) / 3)
    assert got["all"]["hr"] == pytest.approx(2 / 3)
    assert got["all"]["recall"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert got["all"]["precision"] == pytest.approx((2 / 3 + 0 + 1 / 3) / 3)
    assert got["all"]["map"] == pytest.approx(((1 + 2 / 3) / 3 + 0 + (1 / 2) / 1) / 3)
    # diversity: u1 has categories home, home, toys -> 2 of 3 pairs differ; u3: toys, home -> 1 of 1
    assert got["all"]["diversity"] == pytest.approx((2 / 3 + 1) / 2)
    assert got["cold"]["users"] == 1 and got["cold"]["ndcg"] == 0.0 and got["heavy"]["users"] == 2
    assert got["all"]["coverage"] == pytest.approx(4 / 5)  # a, b, c, x of 5 items


@pytest.mark.parametrize("seed", [3, 4])
def test_metrics_match_plain_python_reference(spark, seed):
    rng = random.Random(seed)
    items = [f"i{n:02d}" for n in range(30)]
    categories = {i: rng.choice(["home", "toys", "books"]) for i in items}
    users_before = {i: rng.randint(0, 20) for i in items if rng.random() < 0.8}
    lists, truth, segments = {}, {}, {}
    for u in range(40):
        user = f"u{u}"
        segments[user] = rng.choice(["cold", "light", "heavy"])
        truth[user] = set(rng.sample(items, rng.randint(1, 6)))
        if rng.random() < 0.85:  # some users have no list
            lists[user] = [(i, r + 1) for r, i in enumerate(rng.sample(items, rng.randint(1, 12)))]
    want = reference(lists, truth, segments, categories, users_before, 25, 10, len(items))
    got = scored(spark, lists, truth, segments, categories, users_before, 25, 10, len(items))
    assert set(got) == set(want)
    for seg in want:
        for metric, value in want[seg].items():
            assert got[seg][metric] == pytest.approx(value, abs=1e-9), (seg, metric)


def test_candidate_recall(spark):
    _, tf, uf, _ = frames(spark, {}, {"u1": {"a", "b"}, "u2": {"c"}}, {"u1": "light", "u2": "heavy"}, {}, {})
    cands = spark.createDataFrame([("u1", "a"), ("u1", "q")], "user_id string, item_id string")
    got = {r.user_id: r.recall for r in metrics.candidate_recall(cands, tf, uf).collect()}
    assert got == {"u1": 0.5, "u2": 0.0}
