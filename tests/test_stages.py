"""Features, recall sources, training lists, the final list and the quality gate on tiny
inline data with production schemas."""

import datetime as dt
import math
import random

import numpy as np
import pytest
from pyspark.sql import functions as F

from shoprank import examples as ex
from shoprank import recall
from shoprank.baselines import als, dense_index
from shoprank.config import CandidatesConf, GateConf
from shoprank.features import feature_names, item_features, pair_features, user_features
from shoprank.materialise import materialise, materialise_all, release
from shoprank.night import Windows
from shoprank.quality import check_gate
from shoprank.recall import covisit, neighbours, popular, returning, segment_popular, transitions
from shoprank.recall import ease as ease_source
from shoprank.schemas import INTERACTIONS, ITEM_FEATURES, ITEMS, USER_FEATURES
from shoprank.score import latest_by_user, mmr_order, rerank
from tests.conftest import rows

D = dt.date(2026, 11, 21)
END = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


def ts(h):
    return dt.datetime(2026, 11, 21, h, tzinfo=dt.UTC)


def interactions(spark, events):
    data = [(D, u, i, a, ts(h), D, c, "b", p, True, {}) for u, i, a, h, c, p in events]
    return spark.createDataFrame(data, INTERACTIONS)


def items_table(spark, specs):
    return spark.createDataFrame([(D, i, c, "b", p, False, "t", None, None, True, None) for i, c, p in specs],
                                 ITEMS)


def test_user_and_item_features(spark):
    ev = interactions(spark, [
        ("u1", "i1", "view", 1, "home", 9.0), ("u1", "i1", "purchase", 2, "home", 9.0),
        ("u1", "i2", "view", 3, "toys", 99.0), ("u2", "i2", "click", 4, "toys", 99.0),
    ])
    users = ev.transform(user_features(D))
    assert users.schema.simpleString() == USER_FEATURES.simpleString()
    u1 = users.filter("user_id = 'u1'").collect()[0]
    # weights: view 1 + purchase 5 on home, view 1 on toys
    assert (u1.n_events, u1.n_purchases, u1.top_categories) == (3, 1, ["home", "toys"])
    assert u1.category_affinity == {"home": pytest.approx(6 / 7), "toys": pytest.approx(1 / 7)}
    items = ev.transform(item_features(D, items_table(spark, [("i1", "home", 9.0), ("i2", "toys", 99.0),
                                                              ("i3", "toys", 5.0)])))
    assert items.schema.simpleString() == ITEM_FEATURES.simpleString()
    assert rows(items.select("item_id", "n_events", "n_users", "conversion"), "item_id") == [
        {"item_id": "i1", "n_events": 2, "n_users": 1, "conversion": 1.0},
        {"item_id": "i2", "n_events": 2, "n_users": 2, "conversion": 0.0},
        {"item_id": "i3", "n_events": 0, "n_users": 0, "conversion": 0.0},
    ]


def test_pair_features_from_the_events_before_the_cutoff(spark):
    ev = interactions(spark, [
        ("u1", "i1", "view", 1, "home", 10.0), ("u1", "i1", "purchase", 2, "home", 10.0),
        ("u2", "i1", "view", 3, "home", 10.0), ("u1", "i2", "view", 20, "toys", 40.0)])
    catalogue = items_table(spark, [("i1", "home", 10.0), ("i2", "toys", 40.0), ("i3", "home", 20.0)])
    pairs = spark.createDataFrame([("u1", "i3", {"covisit": 0.5}, {"covisit": 2})],
                                  "user_id string, item_id string, source_scores map<string,double>, "
                                  "source_ranks map<string,int>")
    t = ts(22)
    names = feature_names(("covisit", "popular"), with_text=False)
    got = pairs.transform(pair_features(ev, catalogue, t, ("covisit", "popular"), rank_offset=2.0)).collect()[0]
    f = dict(zip(names, got.features, strict=True))
    assert got.category == "home" and len(got.features) == len(names)
    # rank 2 with the offset 2: 1 / 4; a source that did not propose the item: 0
    assert (f["score_covisit"], f["inv_rank_covisit"], f["score_popular"], f["inv_rank_popular"]) == (0.5, 0.25, 0, 0)
    assert f["log_pop_all"] == 0.0  # nobody touched i3 before t
    assert f["price_pct_in_category"] == pytest.approx(1.0) and f["price_known"] == 1.0  # dearest of home
    assert f["log_user_events"] == pytest.approx(math.log1p(3)) and f["category_share"] == pytest.approx(2 / 3)
    assert f["log_category_idle"] == pytest.approx(math.log1p(20 / 24), rel=1e-5)  # u1's last home event at 2h
    assert f["log_user_idle"] == pytest.approx(math.log1p(2 / 24), rel=1e-5)
    assert f["n_sources"] == 1.0


def test_windows_are_point_in_time():
    w = Windows.for_run(D, horizon_days=30, windows_days=28)
    assert (w.end, w.horizon_start, w.kept_start) == (END, END - dt.timedelta(days=30), END - dt.timedelta(days=58))


def test_training_lists_hold_every_positive_and_only_users_with_one(spark):
    cands = spark.createDataFrame(
        [("u1", f"i{k}", {"popular": float(k)}, {"popular": k}) for k in range(6)]
        + [("u2", "i1", {"popular": 1.0}, {"popular": 1})],
        "user_id string, item_id string, source_scores map<string,double>, source_ranks map<string,int>")
    labels = spark.createDataFrame([("u1", "i4"), ("u1", "i5"), ("u2", "zz")], "user_id string, item_id string")
    extra = spark.createDataFrame([("u1", "r1"), ("u1", "i0")], "user_id string, item_id string")
    lists = ex.build_lists(cands, labels, ex.unscored(extra, cands), "train1", list_size=4, seed=1)
    got = rows(lists.select("list_id", "item_id", "label"), "item_id")
    assert {r["list_id"] for r in got} == {"train1:u1"}  # u2's positive is not among its candidates
    assert len(got) == 4 and {r["item_id"] for r in got if r["label"] == 1.0} == {"i4", "i5"}
    rand = lists.filter("item_id = 'r1'").collect()
    assert not rand or rand[0].source_scores == {}  # a random item carries no source score
    # Validation lists: the user's whole candidate set, nothing added.
    served = rows(ex.build_lists(cands, labels, None, "validation0", list_size=20, seed=1)
                  .select("list_id", "item_id", "label"), "item_id")
    assert served == [{"list_id": "validation0:u1", "item_id": f"i{k}", "label": float(k >= 4)} for k in range(6)]


def test_training_lists_are_the_same_however_the_rows_are_partitioned(spark):
    cands = spark.createDataFrame(
        [(f"u{u}", f"i{k}", {"popular": float(k)}, {"popular": k}) for u in range(3) for k in range(12)],
        "user_id string, item_id string, source_scores map<string,double>, source_ranks map<string,int>")
    labels = spark.createDataFrame([(f"u{u}", "i3") for u in range(3)], "user_id string, item_id string")
    pool, n = ex.index_items(spark.createDataFrame([(f"p{k}",) for k in range(40)], "item_id string").repartition(3))
    assert n == 40 and sorted(pool.collect())[:3] == [("p0", 0), ("p1", 1), ("p10", 2)]  # in id order

    def lists(parts: int, order):
        extra = ex.random_items(cands.select("user_id").distinct().repartition(parts), pool, n, 3, seed=5)
        parted = cands.orderBy(order).repartition(parts)
        built = ex.build_lists(parted, labels, ex.unscored(extra, parted), "train1", list_size=6, seed=5)
        return rows(built.select("list_id", "item_id", "label"))

    once = lists(1, "item_id")
    assert len(once) == 18 and sum(r["label"] for r in once) == 3  # 6 per user: the positive, 5 drawn
    assert once == lists(4, F.col("item_id").desc())  # the same draws on any layout
    pool.unpersist()


def test_label_pairs_are_new_items_in_the_window(spark):
    history = interactions(spark, [("u1", "i1", "view", 1, "c", 1.0), ("u1", "i1", "view", 13, "c", 1.0),
                                   ("u1", "i2", "view", 14, "c", 1.0), ("u2", "i3", "view", 20, "c", 1.0)])
    before = history.filter(F.col("ts") < F.lit(ts(12)))
    got = rows(ex.label_pairs(history, ts(12), 1, before), "user_id", "item_id")
    assert got == [{"user_id": "u1", "item_id": "i2"}, {"user_id": "u2", "item_id": "i3"}]  # i1 was had


def test_covisit_and_transitions_follow_time_and_order(spark):
    ev = interactions(spark, [
        ("a", "x", "view", 1, "c", 1.0), ("a", "y", "view", 2, "c", 1.0), ("a", "z", "purchase", 3, "c", 1.0),
        ("b", "x", "view", 5, "c", 1.0), ("b", "q", "view", 23, "c", 1.0),  # q: 18 h after x
        ("u", "x", "view", 10, "c", 1.0)])
    allowed = ev.select("item_id").distinct()
    users = ev.filter("user_id = 'u'").transform(user_features(D))
    params = CandidatesConf(covisit_hours=6.0, decay_days=1000.0)
    inputs = recall.RecallInputs(ev, users, allowed, END, params)
    cov = {r.item_id: r.score for r in covisit.candidates(inputs).collect()}
    assert set(cov) == {"y", "z"}  # q was touched too long after x
    assert cov["z"] > cov["y"]  # a purchase weighs more than a view
    nxt = {r.item_id: r.score for r in transitions.candidates(inputs).collect()}
    assert nxt["y"] == pytest.approx(1.0, rel=1e-3) and nxt["z"] == pytest.approx(0.5, rel=1e-3)
    assert nxt["q"] == pytest.approx(1.0, rel=1e-3)  # order, not time, makes a transition


@pytest.mark.parametrize(("recent", "half_life", "min_events"), [(0.0, 0.0, 0), (2.0, 0.0, 0), (2.0, 0.1, 3)])
def test_ease_source_scores_unseen_items_by_the_closed_form(spark, recent, half_life, min_events):
    """Fit on binary pairs (half_life=0) or on pairs weighing 0.5 ** (age / half-life),
    the half-life stretched back to the `min_events`-th latest event (there: hour 7, 17 h
    before the end); a user's items weigh alike (recent=0) or 1 / (1 + r / recent) for
    the r-th most recently touched: u4 touched `a` again last, so `a` leads u4's."""
    pairs = [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "c"), ("u3", "b"), ("u3", "c"), ("u4", "a"),
             ("u4", "b"), ("u4", "d"), ("u4", "a")]
    items, users = ["a", "b", "c", "d"], ["u1", "u2", "u3", "u4"]
    ev = interactions(spark, [(u, i, "view", h, "c", 1.0) for h, (u, i) in enumerate(pairs)])
    inputs = recall.RecallInputs(ev, ev.transform(user_features(D)), ev.select("item_id").distinct(), END,
                                 CandidatesConf(ease_lambda=2.0, ease_neighbours=4, per_source=2,
                                                ease_recent_items=recent, ease_half_life_days=half_life,
                                                popular_min_events=min_events))
    got = {(r.user_id, r.item_id): r.score for r in ease_source.candidates(inputs).collect()}
    x = np.array([[1.0 if (u, i) in pairs else 0.0 for i in items] for u in users])
    fit, lam = x, 2.0
    if half_life:
        last = {pair: h for h, pair in enumerate(pairs)}  # the hour of each pair's last touch
        w = np.array([[0.5 ** (((24 - last[u, i]) / 24) / (17 / 24)) if (u, i) in last else 0.0 for i in items]
                      for u in users])
        fit, lam = np.sqrt(w), 2.0 * w[x > 0].mean()
    p = np.linalg.inv(fit.T @ fit + lam * np.eye(4))
    held = x.copy()
    if recent:
        for n, u in enumerate(users):
            latest = [i for v, i in reversed(pairs) if v == u]
            order = list(dict.fromkeys(latest))  # most recently touched first
            held[n] = [1 / (1 + order.index(i) / recent) if i in order else 0.0 for i in items]
    scores = held @ (np.eye(4) - p / np.diag(p))
    want = {}
    for n, u in enumerate(users):  # the user's two best unseen items
        unseen = sorted((j for j in range(4) if x[n, j] == 0), key=lambda j: (-scores[n, j], items[j]))[:2]
        want.update({(u, items[j]): scores[n, j] for j in unseen})
    assert got == pytest.approx(want)
    if recent:
        assert held[3].tolist() == [1.0, 0.5, 0.0, 1 / 1.5]  # u4: a latest, then d, then b


def test_neighbours_source_scores_what_similar_users_took_lately(spark):
    """score(u, i) = sum over users v of cos(u, v) |x_u| [v took i since the chart's
    start], a user's items weighing 1 / (1 + r / 2) for the r-th most recently touched
    rather than 1: checked against that user-user form in numpy (the source computes the
    item form). Items nobody similar took lately get no row."""
    events = [("u1", "a", 0), ("u1", "b", 1), ("u1", "c", 7), ("u2", "a", 2), ("u2", "d", 8), ("u3", "b", 3),
              ("u3", "c", 4), ("u3", "e", 9), ("u4", "a", 5), ("u4", "b", 10), ("u5", "e", 6), ("u5", "a", 11),
              ("u6", "f", 1)]  # f: only long ago
    items, users = ["a", "b", "c", "d", "e", "f"], ["u1", "u2", "u3", "u4", "u5", "u6"]
    ev = interactions(spark, [(u, i, "view", h, "c", 1.0) for u, i, h in events])
    inputs = recall.RecallInputs(ev, ev.transform(user_features(D)), ev.select("item_id").distinct(), END,
                                 CandidatesConf(neighbours_kept=6, per_source=3, ease_recent_items=2.0),
                                 chart_since=ts(6))
    got = {(r.user_id, r.item_id): r.score for r in neighbours.candidates(inputs).collect()}
    x = np.array([[1.0 if any(e[:2] == (u, i) for e in events) else 0.0 for i in items] for u in users])
    late = np.array([[1.0 if any(e[:2] == (u, i) and e[2] >= 6 for e in events) else 0.0 for i in items]
                     for u in users])
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    want = {}
    for n, u in enumerate(users):
        order = [i for _, i, _ in sorted((e for e in events if e[0] == u), key=lambda e: -e[2])]
        held = np.array([1 / (1 + order.index(i) / 2) if i in order else 0.0 for i in items])
        score = (xn @ held) @ late  # each neighbour v: the user's weighted items . v's unit history
        unseen = [j for j in range(6) if x[n, j] == 0 and score[j] > 0]
        best = sorted(unseen, key=lambda j: (-score[j], items[j]))[:3]
        want.update({(u, items[j]): score[j] for j in best})
    assert got == pytest.approx(want)
    assert got[("u4", "e")] > got[("u4", "c")] > got[("u4", "d")]  # e: two like u4 took it lately, c: one
    assert not [pair for pair in got if pair[1] == "f"] and ("u6", "a") not in got  # no weight, no row


def test_dense_index_numbers_ids_in_their_order(spark):
    ids = spark.createDataFrame([(f"i{n}",) for n in (5, 3, 9, 3, 1, 7)], "item_id string").repartition(3)
    assert sorted(dense_index(ids, "item").collect()) == [("i1", 0), ("i3", 1), ("i5", 2), ("i7", 3), ("i9", 4)]


def test_als_top_items_are_the_fitted_factors_best_unseen_allowed_items(spark):
    events = [(f"u{u}", f"i{(u * 3 + j) % 9}", "purchase" if j == 0 else "view", j + 1, "c", 1.0)
              for u in range(8) for j in range(3 + u % 3)]
    ev = interactions(spark, events)
    allowed = ev.select("item_id").distinct().filter("item_id != 'i4'")
    users, items = dense_index(ev.select("user_id"), "user"), dense_index(ev.select("item_id"), "item")
    train = als.confidences(ev, users, items)
    assert {(r.user_id, r.item_id): r.confidence for r in train.collect()} == {
        (u, i): float(sum(5.0 if a == "purchase" else 1.0 for u2, i2, a, *_ in events if (u2, i2) == (u, i)))
        for u, i, *_ in events}
    model = als.fit(train, rank=3, iterations=5, reg=0.1, alpha=1.0, seed=1)
    got = als.recommend(model, users, items, train.select("user_id", "item_id"), allowed, k=2, depth=9)
    uf = {r.id: np.array(r.features) for r in model.userFactors.collect()}
    vf = {r.id: np.array(r.features) for r in model.itemFactors.collect()}
    user_idx = {r.user_id: r.user_idx for r in users.collect()}
    item_idx = {r.item_id: r.item_idx for r in items.collect()}
    seen = {(u, i) for u, i, *_ in events}
    want = {}
    for u, ui in user_idx.items():  # brute force over every item, in plain Python
        fresh = [i for i in item_idx if i != "i4" and (u, i) not in seen]
        best = sorted(fresh, key=lambda i: (-float(uf[ui] @ vf[item_idx[i]]), i))[:2]
        want.update({(u, i): float(uf[ui] @ vf[item_idx[i]]) for i in best})
    assert {(r.user_id, r.item_id): r.score for r in got.collect()} == pytest.approx(want, rel=1e-4)
    top = als.top_items(ev, ev.select("user_id").distinct().filter("user_id != 'u0'"), allowed, 2, 3, 5, 0.1, 1.0, 1)
    pairs = [(r.user_id, r.item_id) for r in top.collect()]
    assert len(pairs) == 14 and not {p for p in pairs if p in seen or p[1] == "i4" or p[0] == "u0"}


def test_candidate_sources_merge_and_exclude(spark):
    ev = interactions(spark, [
        ("u1", "i1", "view", 1, "home", 1.0), ("u1", "i2", "view", 2, "home", 1.0),
        ("u2", "i1", "view", 3, "home", 1.0), ("u2", "i3", "purchase", 4, "toys", 1.0),
        ("u3", "i3", "view", 5, "toys", 1.0), ("u3", "i4", "view", 6, "toys", 1.0),
    ])
    users = ev.transform(user_features(D))
    allowed = ev.select("item_id").distinct().filter("item_id != 'i4'")
    inputs = recall.RecallInputs(ev, users, allowed, END, CandidatesConf(segments=2))
    per_source = {name: source(inputs) for name, source in recall.sources(inputs.params, False).items()}
    assert set(per_source) == set(CandidatesConf().sources) - {"content"}
    merged = recall.merge(D, per_source, 100, ev.select("user_id", "item_id").distinct(), allowed)
    got = {(r.user_id, r.item_id): r for r in merged.collect()}
    assert not {(u, i) for u, i in got if (u, i) in {("u1", "i1"), ("u2", "i3"), ("u3", "i3")}}  # had: excluded
    assert not [p for p in got if p[1] == "i4"]  # not allowed
    assert ("u1", "i3") in got and "popular" in got[("u1", "i3")].sources
    assert len(got) == merged.select("user_id", "item_id").distinct().count()  # deduplicated
    for r in got.values():
        assert set(r.source_scores) == set(r.sources) == set(r.source_ranks)
        assert r.recall_score == pytest.approx(sum(r.source_scores.values()))
    top1 = recall.merge(D, per_source, 1, None)
    assert top1.filter(F.array_max(F.map_values("source_ranks")) > 1).count() == 0



def test_segments_do_not_depend_on_the_order_rows_arrive_in(spark):
    # K-means samples per partition in arrival order: a re-run night must get the same segments.
    rng = random.Random(3)
    cats = ["home", "toys", "food", "garden"]
    events = [(f"u{u:02d}", f"i{rng.randrange(30)}", rng.choice(["view", "purchase"]), rng.randrange(1, 23),
               rng.choice(cats[: 1 + u % 4]), 1.0) for u in range(60) for _ in range(rng.randrange(1, 12))]
    got = []
    for order, parts in ((events, 1), (events[::-1], 5), (sorted(events, key=lambda e: e[1]), 3)):
        ev = interactions(spark, order).repartition(parts)
        inputs = recall.RecallInputs(ev, ev.transform(user_features(D)), ev.select("item_id").distinct(), END,
                                     CandidatesConf(segments=6))
        got.append(rows(segment_popular.segments(inputs), "user_id"))
    assert got[0] == got[1] == got[2]


def test_a_source_ranks_scores_equal_at_single_precision_by_item(spark):
    # item-kNN's sums differ in their last bits from run to run: such scores tie, and the
    # item decides, so a re-run night ranks them the same way; a real gap still counts.
    scored = spark.createDataFrame([("u", "b", 1.0 + 1e-12), ("u", "a", 1.0), ("u", "c", 1.5)],
                                   "user_id string, item_id string, score double")
    got = rows(recall.top_per_user(scored, 3).select("item_id", "rank"), "rank")
    assert got == [{"item_id": "c", "rank": 1}, {"item_id": "a", "rank": 2}, {"item_id": "b", "rank": 3}]

def test_materialise_cuts_the_plan_keeps_the_rows_and_release_frees_them(spark):
    built = (spark.range(50).withColumn("k", F.col("id") % 7).groupBy("k").agg(F.sum("id").alias("s"))
             .join(spark.range(7).withColumnRenamed("id", "k"), "k"))
    kept = materialise(built)
    assert sorted(kept.collect()) == sorted(built.collect())
    assert "Aggregate" not in kept._jdf.queryExecution().optimizedPlan().toString()  # no lineage left
    assert materialise(kept) is kept
    release(kept)
    with pytest.raises(Exception, match="CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND"):
        kept.count()


def test_materialise_all_keeps_order_and_rows_and_on_failure_frees_the_rest(spark):
    makers = {f"m{n}": (lambda n=n: spark.range(20 * n).groupBy((F.col("id") % n).alias("k")).count())
              for n in (3, 1, 2)}
    for workers in (1, 3):
        out = materialise_all(spark, makers, workers, "test")
        assert list(out) == ["m3", "m1", "m2"]
        for name, frame in out.items():
            assert sorted(frame.collect()) == sorted(makers[name]().collect())
            release(frame)

    def broken():
        raise ValueError("source broke")

    kept = {}

    def good():
        kept["frame"] = materialise(spark.range(5))
        return kept["frame"]

    with pytest.raises(ValueError, match="source broke"):
        materialise_all(spark, {"good": good, "broken": broken}, 2, "test")
    with pytest.raises(Exception, match="CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND"):  # freed, not left behind
        kept["frame"].count()


def test_mmr_order_trades_relevance_for_new_categories():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    cats = np.array(["a", "a", "a", "b"])
    assert mmr_order(scores, cats, 3, 1.0, cap=10) == [0, 1, 2]  # lambda 1: by score alone
    assert mmr_order(scores, cats, 3, 0.5, cap=10) == [0, 3, 1]  # b jumps ahead of a's second
    assert mmr_order(scores, cats, 3, 1.0, cap=2) == [0, 1, 3]  # the category cap
    assert mmr_order(scores[:3], cats[:3], 3, 1.0, cap=2) == [0, 1, 2]  # cap relaxed: one category is all
    assert mmr_order(scores, cats, 4, 1.0, cap=0) == [0, 1, 2, 3]  # 0: no cap


def test_rerank_publishes_top_k_and_latest_by_user(spark):
    data = [("u1", f"i{k}", "home" if k < 5 else "toys", 1.0 - k / 10, ["popular"]) for k in range(8)]
    scored = spark.createDataFrame(data, "user_id string, item_id string, category string, score double, "
                                         "sources array<string>")
    out = scored.transform(rerank(4, 2, 1.0, 50, D, "v1"))
    assert [(r.rank, r.item_id) for r in out.orderBy("rank").collect()] == [(1, "i0"), (2, "i1"), (3, "i5"),
                                                                            (4, "i6")]
    latest = out.transform(latest_by_user(16)).collect()[0]
    assert latest.item_ids == ["i0", "i1", "i5", "i6"]


def test_gate_absolute_and_relative_limits():
    gate = GateConf(max_row_change=0.5, max_quarantine_rate=0.1, max_action_share_change=0.1)
    prev = {"accepted_rows": 1000.0, "share_view": 0.6}
    assert check_gate({"accepted_rows": 1200.0, "share_view": 0.65, "actions_quarantine_rate": 0.05}, prev, gate) == []
    breaches = check_gate({"accepted_rows": 100.0, "share_view": 0.9, "actions_quarantine_rate": 0.3}, prev, gate)
    assert {b[0] for b in breaches} == {"accepted_rows", "share_view", "actions_quarantine_rate"}
    rows_breach = [b for b in breaches if b[0] == "accepted_rows"][0]
    assert rows_breach[1:] == (500.0, 1500.0, 100.0)


def test_gate_holds_unpriced_items_against_a_catalogue_only_where_prices_are_required():
    gate = GateConf(max_null_rate=0.2)
    films = {"null_price_rate": 1.0, "unknown_item_rate": 0.0}  # a catalogue without prices
    assert check_gate(films, None, gate, prices_required=False) == []
    assert check_gate(films, None, gate, prices_required=True) == [("null_price_rate", 0.0, 0.2, 1.0)]
    assert check_gate({**films, "unknown_item_rate": 0.5}, None, gate, prices_required=False) == [
        ("unknown_item_rate", 0.0, 0.2, 0.5)]


def test_gate_error_message_names_metric_range_and_value():
    from shoprank.errors import QualityGateError

    err = QualityGateError([("accepted_rows", 500.0, 1500.0, 100.0)])
    assert "accepted_rows=100 outside allowed [500, 1500]" in str(err) and "--force" in str(err)


def test_gate_names_what_fills_the_quarantine_and_the_setting_that_decides_it():
    from shoprank.config import ValidationConf
    from shoprank.quality import quarantine_causes

    breaches = [("actions_quarantine_rate", 0.0, 0.2, 0.85), ("accepted_rows", 500.0, 1500.0, 100.0),
                ("items_quarantine_rate", 0.0, 0.2, 0.5)]
    reasons = [("actions", "bad_encoding", 3), ("actions", "stale_timestamp", 84830), ("items", "malformed_line", 1),
               ("items", "bad_price", 2)]
    causes = quarantine_causes(breaches, reasons, ValidationConf(horizon_days=30, max_price=500.0), "auto", "utf-8",
                               28)
    assert causes == [
        "actions: 84,830 rows quarantined as stale_timestamp, older than the history kept, "
        "validation.horizon_days = 30 days and the label windows' 28 before the run date's end "
        "(to keep them: --set validation.horizon_days=<days>)",
        "items: 2 rows quarantined as bad_price, prices that are not numbers in (0, validation.max_price = 500]",
    ]
    assert quarantine_causes(breaches[1:2], reasons, ValidationConf(), "auto", "utf-8", 28) == []
    flags = quarantine_causes(breaches[2:], [("items", "bad_active", 7)], ValidationConf(), "auto", "utf-8", 28)
    assert flags == ["items: 7 rows quarantined as bad_active, active flags that are not yes/no words such as "
                     "true/false, yes/no, 1/0 (check which column input.item_renames maps to active)"]


def test_charts_reach_back_until_they_hold_enough_events(spark):
    """`popular` counts the last `popular_days`, or the latest `popular_min_events` events
    when those days hold fewer: the last day holds x twice, y was taken two days before."""
    ev = interactions(spark, [("a", "y", "view", 1, "c", 1.0), ("b", "y", "view", 2, "c", 1.0),
                              ("c", "y", "view", 3, "c", 1.0), ("d", "x", "view", 4, "c", 1.0),
                              ("e", "x", "view", 5, "c", 1.0)])
    ev = ev.withColumn("ts", F.when(F.col("item_id") == "y", F.col("ts") - F.expr("INTERVAL 2 DAYS"))
                       .otherwise(F.col("ts")))
    users, allowed = ev.transform(user_features(D)), ev.select("item_id").distinct()

    def chart(min_events):
        params = CandidatesConf(popular_days=1, popular_min_events=min_events, per_source=2)
        since = recall.chart_start(ev, END, params.popular_days, params.popular_min_events)
        inputs = recall.RecallInputs(ev, users, allowed, END, params, chart_since=since)
        got = {r.item_id: r.score for r in popular.candidates(inputs).filter("user_id = 'e'").collect()}
        return since, inputs.chart_days, got

    day = (END - dt.timedelta(days=1), 1.0, {"x": pytest.approx(math.log1p(2))})
    assert chart(0) == day and chart(2) == day
    since, days, got = chart(4)  # x by d and e, then y by c and b
    assert since == ts(2) - dt.timedelta(days=2) and days == pytest.approx(2 + 22 / 24)
    assert got == {"x": pytest.approx(math.log1p(2)), "y": pytest.approx(math.log1p(2))}
    since, _, got = chart(100)  # fewer events than that: the whole history
    assert since == ts(1) - dt.timedelta(days=2)
    assert got == {"x": pytest.approx(math.log1p(2)), "y": pytest.approx(math.log1p(3))}


def test_category_popular_mixes_the_users_categories_by_share_and_in_category_popularity(spark):
    from shoprank.recall import category_popular

    cat = {"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "b3": "B", "x": "unknown"}
    evs = [("u", "a1", "purchase"), ("u", "b1", "view"), ("u", "x", "view"), ("v1", "a1", "view"),
           ("v1", "a2", "view"), ("v1", "b2", "view"), ("v2", "a2", "view"), ("v2", "b2", "click"),
           ("v2", "b3", "view"), ("v3", "b2", "view"), ("v3", "a3", "view")]
    ev = interactions(spark, [(u, i, a, h, cat[i], 1.0) for h, (u, i, a) in enumerate(evs)])
    users = ev.filter("user_id = 'u'").transform(user_features(D))
    inputs = recall.RecallInputs(ev, users, ev.select("item_id").distinct(), END, CandidatesConf(per_source=2))
    got = {r.item_id: r.score for r in category_popular.candidates(inputs).collect()}
    weight = {"purchase": 5.0, "view": 1.0}
    share = {c: sum(weight[a] for u, i, a in evs if u == "u" and cat[i] == c) / 7.0 for c in ("A", "B")}
    readers = {c: {u for u, i, _ in evs if cat[i] == c} for c in ("A", "B")}
    item_users = {i: len({u for u, j, _ in evs if j == i}) for i in cat}
    # each chart down to the second item u never had: A's a1 (had), a2, a3; B's b2, b1 (had), b3
    want = {i: share[cat[i]] * item_users[i] / len(readers[cat[i]]) for i in ("a1", "a2", "a3", "b1", "b2", "b3")}
    assert got == pytest.approx(want)
    assert got["b2"] < got["a3"] < got["a2"]  # u cares for A five times as much


def test_item_knn_source_keeps_per_source_items_the_user_never_had(spark):
    """h's older items (o1, o2, outside its latest 3 events) are the nearest to its recent
    ones: RePlay's own top 2 holds them, the source reads past them."""
    from shoprank.baselines.replay_models import fit_predict
    from shoprank.baselines.replay_models import item_knn as knn
    from shoprank.recall import item_knn

    baskets = {"h": ["o1", "o2", "r1", "r2", "r3"], "a": ["o1", "r1", "n1"], "b": ["o2", "r2", "n2"],
               "c": ["o1", "r1"], "d": ["o2", "r2"], "e": ["r3", "n3"], "f": ["o1", "r3"]}
    ev = interactions(spark, [(u, i, "view", h, "c", 1.0) for u, its in baskets.items() for h, i in enumerate(its)])
    allowed = ev.select("item_id").distinct()
    params = CandidatesConf(graph_events_per_user=3, per_source=2, neighbours=10)
    users = ev.filter("user_id = 'h'").transform(user_features(D))
    got = {r.item_id: r.score for r in item_knn.candidates(recall.RecallInputs(ev, users, allowed, END, params))
           .collect()}
    latest = ev.filter(~((F.col("user_id") == "h") & F.col("item_id").isin("o1", "o2")))  # every user's latest 3
    full = sorted((-r.score, r.item_id) for r in fit_predict(knn(10), latest, users.select("user_id"), allowed, 20)
                   .collect())
    assert {i for _, i in full[:2]} & {"o1", "o2"}  # a fixed top 2 would be spent on what h had
    assert got == {i: -s for s, i in [x for x in full if x[1] not in baskets["h"]][:2]}


def test_chart_heads_reach_past_what_each_user_had(spark):
    """A chart's head for a reader runs down to the n-th item the user never had: the rows
    are plain Python's walk down the chart, however many of its items the user had (none,
    some, the whole top, the whole chart)."""
    rng = random.Random(5)
    charts = {c: rng.sample([f"i{k:02d}" for k in range(30)], 12) for c in ("a", "b")}
    had = {"u0": set(), "u1": set(charts["a"][:6]), "u2": set(rng.sample(charts["a"], 5) + charts["b"][2:4]),
           "u3": set(charts["a"])}
    readers = [("u0", "a"), ("u1", "a"), ("u2", "a"), ("u2", "b"), ("u3", "a"), ("u3", "b")]
    ev = interactions(spark, [(u, i, "view", 1, "c", 1.0) for u, items in had.items() for i in sorted(items)]
                      + [("u9", "i99", "view", 1, "c", 1.0)])
    chart_df = spark.createDataFrame([(c, i, r + 1) for c, items in charts.items() for r, i in enumerate(items)],
                                     "chart string, item_id string, rank int")
    readers_df = spark.createDataFrame(readers, "user_id string, chart string")
    for n in (1, 3, 5):
        got = {(r.user_id, r.chart, r.item_id, r.rank)
               for r in recall.chart_heads(chart_df, readers_df, recall.touched_pairs(ev), n).collect()}
        want = set()
        for u, c in readers:
            fresh = 0
            for r, i in enumerate(charts[c]):
                if fresh == n:
                    break
                want.add((u, c, i, r + 1))
                fresh += i not in had[u]
        assert got == want, n


def test_returning_charts_only_what_users_took_on_a_later_visit(spark):
    """`returning` counts the charts' window's events taken over `return_after_hours` after
    their user's first event (even one before the window); `popular` counts them all. y is
    the chart's top, taken by b on a return but by c and d on their first visits."""
    day = dt.timedelta(days=1)
    events = [("a", "p", END - 4 * day + dt.timedelta(hours=10)), ("a", "x", ts(10)),
              ("b", "q", END - 3 * day + dt.timedelta(hours=10)), ("b", "x", END - 2 * day + dt.timedelta(hours=12)),
              ("b", "y", ts(12)),
              ("c", "y", ts(8)), ("c", "z", ts(10)),  # one visit
              ("d", "y", END - 2 * day + dt.timedelta(hours=2)), ("d", "z", ts(8))]  # z 30 hours later
    ev = spark.createDataFrame([(D, u, i, "view", t, D, "c", "b", 1.0, True, {}) for u, i, t in events],
                               INTERACTIONS)
    users, allowed = ev.transform(user_features(D)), ev.select("item_id").distinct()

    def chart(source, after_hours):
        params = CandidatesConf(per_source=3, return_after_hours=after_hours)
        inputs = recall.RecallInputs(ev, users, allowed, END, params, chart_since=END - 2 * day)
        got = source.candidates(inputs)
        assert got.select("user_id").distinct().count() == 4  # every user gets the chart
        return {r.item_id: r.score for r in got.filter("user_id = 'c'").collect()}

    def scores(**users_per_item):
        return {i: pytest.approx(math.log1p(n)) for i, n in users_per_item.items()}

    assert chart(popular, 24) == scores(y=3, x=2, z=2)
    assert chart(returning, 24) == scores(x=2, y=1, z=1)  # x: a, b; y: b; z: d
    assert chart(returning, 48) == scores(x=1, y=1)  # b's x came 26 hours after b's first event
