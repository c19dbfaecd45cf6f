"""Features, examples, candidates, re-ranking and the quality gate on tiny inline data."""

import datetime as dt

import pytest

from shoprank import candidates as cand
from shoprank import examples as ex
from shoprank.config import GateConf
from shoprank.features import attach_features, item_features, user_features
from shoprank.quality import check_gate
from shoprank.schemas import FEATURE_COLUMNS, INTERACTIONS, ITEM_FEATURES, ITEMS, USER_FEATURES
from shoprank.score import latest_by_user, rerank
from tests.conftest import rows

D = dt.date(2026, 11, 21)


def ts(h):
    return dt.datetime(2026, 11, 21, h, tzinfo=dt.UTC)


def interactions(spark, events):
    data = [(D, u, i, a, ts(h), D, c, "b", p, True, {}) for u, i, a, h, c, p in events]
    return spark.createDataFrame(data, INTERACTIONS)


def items_table(spark, specs):
    return spark.createDataFrame([(D, i, c, "b", p, False, "t", None, None, None) for i, c, p in specs], ITEMS)


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


def test_attach_features_gives_model_inputs_and_keeps_extra_columns(spark):
    users = spark.createDataFrame([(D, "u1", 3, 1, 2.0, {"home": 0.75}, ["home"])], USER_FEATURES)
    items = spark.createDataFrame([(D, "i1", "home", "b", 9.0, 4, 2, 0.5)], ITEM_FEATURES)
    pairs = spark.createDataFrame([("u1", "i1", 1.0), ("u9", "i9", 0.0)], "user_id string, item_id string, label double")
    out = pairs.transform(attach_features(users, items))
    assert out.columns == FEATURE_COLUMNS.names + ["label"]
    got = {r.item_id: r for r in out.collect()}
    assert got["i1"].category_affinity == pytest.approx(0.75)
    assert got["i1"].log_price == pytest.approx(2.302585, rel=1e-5)
    assert got["i9"].category == "unknown" and got["i9"].category_affinity == 0.0


def test_windows_are_point_in_time():
    w = ex.Windows.for_run(D, horizon_days=30, label_days=3, validation_days=1)
    assert w.end == dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    assert w.val_start == dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    assert w.label_start == dt.datetime(2026, 11, 18, tzinfo=dt.UTC)
    assert w.horizon_start < w.label_start < w.val_start < w.end


def test_negative_sampling_index_and_labels(spark):
    pool_src = spark.createDataFrame([(f"i{k}",) for k in range(50)], "item_id string").repartition(3)
    pool, size = ex.index_rows(pool_src)
    assert size == 50
    assert sorted(r.idx for r in pool.collect()) == list(range(50))
    pos = spark.createDataFrame([("u1", "i1"), ("u2", "i2")], "user_id string, item_id string")
    neg = pos.transform(ex.sample_negatives(pool, size, 20, seed=3))
    assert neg.count() == 40
    labelled = ex.label_examples(pos, neg, pos)
    assert labelled.filter("label = 1").count() == 2
    # a user's own positive is never also a negative
    assert labelled.filter("label = 0").join(pos, ["user_id", "item_id"]).count() == 0


def test_candidate_sources_merge_and_exclude(spark):
    ev = interactions(spark, [
        ("u1", "i1", "view", 1, "home", 1.0), ("u1", "i2", "view", 2, "home", 1.0),
        ("u2", "i1", "view", 3, "home", 1.0), ("u2", "i3", "purchase", 4, "toys", 1.0),
        ("u3", "i3", "view", 5, "toys", 1.0),
    ])
    users = ev.transform(user_features(D))
    merged = cand.merge_sources(D, ev.filter("action = 'purchase'").select("user_id", "item_id"))([
        cand.popular_in_categories(ev, users, 5), cand.cooccurrence(ev, 10, 10), cand.popular_fallback(ev, users, 2)])
    got = {(r.user_id, r.item_id): r.sources for r in merged.collect()}
    assert got[("u1", "i3")] == ["cooccurrence"] or "cooccurrence" in got[("u1", "i3")]
    assert ("u2", "i3") not in got  # purchased: excluded
    assert "category_popular" in got[("u1", "i1")]
    assert len(got) == merged.select("user_id", "item_id").distinct().count()  # deduplicated


def test_rerank_top_k_with_category_cap(spark):
    data = [("u1", f"i{k}", "home" if k < 5 else "toys", 1.0 - k / 10, ["popular"]) for k in range(8)]
    scored = spark.createDataFrame(data, "user_id string, item_id string, category string, score double, sources array<string>")
    out = scored.transform(rerank(4, 2, D, "v1"))
    got = [(r.rank, r.item_id) for r in out.orderBy("rank").collect()]
    assert got == [(1, "i0"), (2, "i1"), (3, "i5"), (4, "i6")]  # two per category while others exist
    short = scored.filter("category = 'home'").transform(rerank(4, 2, D, "v1"))
    assert short.count() == 4  # cap relaxed when one category is all there is
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


def test_gate_error_message_names_metric_range_and_value():
    from shoprank.errors import QualityGateError

    err = QualityGateError([("accepted_rows", 500.0, 1500.0, 100.0)])
    assert "accepted_rows=100 outside allowed [500, 1500]" in str(err) and "--force" in str(err)
