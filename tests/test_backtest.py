"""The backtest on a small generated shop, and the baselines on tiny inline data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from pyspark.sql import functions as F

from shoprank.baselines import BaselineInputs, ease, popular, top_k
from shoprank.config import BacktestConf, load_config
from shoprank.generate import generate
from shoprank.night import night_end
from shoprank.schemas import BACKTEST_USERS, INTERACTIONS
from shoprank.stages import backtest
from shoprank.storage import ArtifactStore, TableStore
from tests.conftest import rows

D = dt.date(2026, 11, 21)
END = night_end(D)


def events(spark, pairs):
    ts = END - dt.timedelta(hours=1)
    return spark.createDataFrame([(D, u, i, "view", ts, D, "c", "b", 1.0, True, {}) for u, i in pairs], INTERACTIONS)


def inputs(spark, pairs, users, allowed, k=2, **params):
    return BaselineInputs(events(spark, pairs), spark.createDataFrame([(u,) for u in users], "user_id string"),
                          spark.createDataFrame([(i,) for i in allowed], "item_id string"), END, k,
                          BacktestConf(**params))


def test_top_k_excludes_and_restricts(spark):
    scores = spark.createDataFrame([("u", "a", 3.0), ("u", "b", 2.0), ("u", "c", 2.0), ("u", "d", 1.0)],
                                   "user_id string, item_id string, score double")
    seen = spark.createDataFrame([("u", "a")], "user_id string, item_id string")
    allowed = spark.createDataFrame([("b",), ("c",), ("d",)], "item_id string")
    assert rows(top_k(scores, 2, seen, allowed), "rank") == [
        {"user_id": "u", "item_id": "b", "rank": 1}, {"user_id": "u", "item_id": "c", "rank": 2}]


def test_popular_is_one_chart_minus_what_each_user_had(spark):
    pairs = [("u1", "a"), ("u2", "a"), ("u3", "a"), ("u1", "b"), ("u2", "b"), ("u3", "c"), ("u4", "z")]
    got = popular.lists(inputs(spark, pairs, ["u1", "u3"], ["a", "b", "c"]))
    assert rows(got, "user_id", "rank") == [
        {"user_id": "u1", "item_id": "c", "rank": 1},  # u1 had a and b
        {"user_id": "u3", "item_id": "b", "rank": 1},  # z is not allowed
    ]


def test_ease_matches_the_closed_form_on_a_small_matrix(spark):
    pairs = [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "c"), ("u3", "b"), ("u3", "c"), ("u4", "a"),
             ("u4", "b"), ("u4", "d")]
    items, users = ["a", "b", "c", "d"], ["u1", "u2", "u3", "u4"]
    x = np.array([[1.0 if (u, i) in pairs else 0.0 for i in items] for u in users])
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(4))
    b = np.eye(4) - p / np.diag(p)
    assert ease.weights(x.T @ x, 2.0) == pytest.approx(b)
    scores = np.where(x > 0, -np.inf, x @ b)  # seen items are never recommended
    want = {u: [items[j] for j in np.argsort(-scores[n], kind="stable")[:2] if scores[n, j] > -np.inf]
            for n, u in enumerate(users)}
    got = ease.lists(inputs(spark, pairs, users, items, ease_lambda=2.0, ease_neighbours=4))
    by_user = {}
    for r in got.orderBy("user_id", "rank").collect():
        by_user.setdefault(r.user_id, []).append(r.item_id)
    assert by_user == want


def test_ease_weights_fall_back_to_the_general_inverse_and_leave_the_gram_alone():
    gram = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 1.0], [0.0, 1.0, 3.0]])  # + 0.5 I: indefinite, no Cholesky
    kept = gram.copy()
    p = np.linalg.inv(gram + 0.5 * np.eye(3))
    b = np.eye(3) - p / np.diag(p)
    assert ease.weights(gram, 0.5) == pytest.approx(b)
    assert (gram == kept).all()


def test_summary_means_spreads_and_the_headline_ratio():
    rows_ = []
    for night, (ours, base) in {D: (0.3, 0.2), D - dt.timedelta(days=1): (0.1, 0.2)}.items():
        for model, v in (("shoprank", ours), ("als", base), ("source:popular", 0.05)):
            rows_ += [(D, night, 2, model, "all", m, 10, v, 50) for m in ("ndcg", "hr")]
    s = backtest.summarize(rows_, 10)
    assert s["table"]["shoprank"]["ndcg"] == (pytest.approx(0.2), pytest.approx(np.std([0.3, 0.1], ddof=1)))
    assert s["best_baseline"] == "als" and s["ndcg_over_best_baseline"] == pytest.approx(1.0)


@pytest.mark.slow
def test_backtest_replays_a_night_without_leaks_and_scores_every_model(spark, tmp_path, capsys):
    cfg = load_config("conf/local.toml", [
        f"input.actions_path={tmp_path}/data/actions", f"input.items_path={tmp_path}/data/items",
        f"storage.warehouse={tmp_path}/wh", f"storage.artifacts={tmp_path}/art",
        "generate.users=300", "generate.items=150", "train.epochs=2",
        "examples.windows=1",
        # The replay is under test, not each source: the ones scored as lists below.
        'candidates.sources=["covisit", "ease", "popular", "category_popular", "content"]'])
    generate(cfg.generate, cfg.input.actions_path, cfg.input.items_path, D)
    night = D - dt.timedelta(days=2)
    summary = backtest.run(spark, cfg, night, horizon_days=2, nights=1, step_days=1)

    main = TableStore(spark, str(tmp_path / "wh"))
    assert [t for t in ("interactions", "recommendations", "items") if main.exists(t)] == []  # production untouched
    result = main.read("backtest", night)
    models = {r.model for r in result.select("model").distinct().collect()}
    assert {"shoprank", "popular_30d", "als", "item_knn", "ease", "source:popular", "source:covisit",
            "source:category_popular", "candidates"} <= models
    # Every list is scored on the same users.
    users = {r.model: r.users for r in result.filter("segment = 'all' and metric = 'ndcg'").collect()}
    assert len(set(users.values())) == 1 and next(iter(users.values())) > 0
    # The replayed night saw nothing after its end: events held out, none read.
    replay = TableStore(spark, str(tmp_path / "wh" / "_backtest"))
    seen = replay.read("interactions", night)
    assert seen.agg(F.max("ts")).collect()[0][0] < night_end(night).replace(tzinfo=None)
    audit = {r.source: r for r in replay.read("run_audit", night).collect()}
    assert audit["actions"].held_out > 0 and audit["actions"].reconciled
    assert replay.read("recommendations", night).join(seen, ["user_id", "item_id"]).count() == 0  # seen excluded
    out = capsys.readouterr().out
    assert f"backtest local ndcg_over_best_baseline={summary['ndcg_over_best_baseline']:.3f}" in out
    # The headline's interval resamples the per-user NDCG kept for every scored list.
    ci = summary["interval"]
    assert ci["lo"] <= summary["ndcg_over_best_baseline"] <= ci["hi"] and ci["replicates"] > 0
    if ci["determined"]:
        assert f"interval [{ci['lo']:.3f}, {ci['hi']:.3f}]" in out
    else:
        assert f"interval not determined: only {ci['hits']} (night, user) pairs" in out
    assert summary["report"].endswith("quality.html")
    # The per-user units outlive the run (publishing the page once deleted them) and
    # average to the table's figures.
    kept = (spark.read.schema(BACKTEST_USERS).option("recursiveFileLookup", "true")
            .parquet(ArtifactStore.at(f"{tmp_path}/art").backtest_users(night))
            .groupBy("model").agg(F.avg("ndcg").alias("value"), F.count("*").alias("users")).collect())
    table = result.filter("segment = 'all' and metric = 'ndcg'").collect()
    assert {r.model: r.users for r in kept} == {r.model: r.users for r in table}
    assert {r.model: r.value for r in kept} == pytest.approx({r.model: r.value for r in table})


def test_replayed_nights_are_scored_and_labelled_at_the_backtest_horizon():
    cfg = load_config("conf/ml100k.toml")  # label windows unset: they follow the horizon
    replay = backtest.replay_config(cfg, 30)
    assert (replay.evaluate.horizon_days, replay.label_days) == (30, 30)
    assert backtest.replay_config(load_config("conf/taobao.toml"), 30).label_days == 1  # set in the file
    assert backtest.replay_config(cfg, 100).windows_days == 400  # four 100-day windows, each seeing 400 days
