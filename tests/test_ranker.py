"""The ranker's pieces: tasks and NDCG against plain Python, the list reader, the model's
shape and normalisation."""

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from shoprank.errors import TrainingError  # noqa: E402
from shoprank.ml.model import (  # noqa: E402
    BinaryTask,
    ListwiseTask,
    ModelSpec,
    build_ranker,
    ndcg_at,
    priors,
    start_kernel,
    weighted_prior,
)
from shoprank.ml.reader import count_lists, dataset, lists  # noqa: E402
from shoprank.ml.train import rank_gpu  # noqa: E402


def test_listwise_loss_is_the_positives_mean_negative_log_softmax():
    logits = np.array([[2.0, 1.0, 0.0, 5.0], [0.5, 0.5, 9.0, 9.0]], np.float32)
    labels = np.array([[1, 0, 1, 0], [0, 1, 0, 0]], np.float32)
    mask = np.array([[True, True, True, False], [True, True, False, False]])
    want = []
    for lg, lb, m in zip(logits, labels, mask, strict=True):
        z = lg[m]
        log_p = z - math.log(sum(math.exp(v) for v in z))
        want.append(-sum(p for p, y in zip(log_p, lb[m], strict=True) if y) / lb[m].sum())
    got = float(ListwiseTask().loss(tf.constant(logits), tf.constant(labels), tf.constant(mask)))
    assert got == pytest.approx(np.mean(want), rel=1e-5)


def test_binary_loss_ignores_padding():
    logits, labels = np.array([[3.0, -1.0, 7.0]], np.float32), np.array([[1.0, 0.0, 1.0]], np.float32)
    mask = np.array([[True, True, False]])
    want = np.mean([math.log1p(math.exp(-3.0)), math.log1p(math.exp(-1.0))])
    assert float(BinaryTask().loss(tf.constant(logits), tf.constant(labels), tf.constant(mask))) == pytest.approx(want)


def test_ndcg_at_k_matches_plain_python():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20, 12)).astype(np.float32)
    labels = (rng.random((20, 12)) < 0.25).astype(np.float32)
    mask = rng.random((20, 12)) < 0.8
    got = ndcg_at(tf.constant(logits), tf.constant(labels), tf.constant(mask), 5).numpy()
    for row in range(20):
        idx = [i for i in np.argsort(-logits[row], kind="stable") if mask[row, i]][:5]
        dcg = sum(labels[row, i] / math.log2(r + 2) for r, i in enumerate(idx))
        n_rel = int(labels[row][mask[row]].sum())
        idcg = sum(1 / math.log2(r + 2) for r in range(min(n_rel, 5)))
        assert got[row] == pytest.approx(dcg / idcg if idcg else 0.0, abs=1e-5)


def test_lists_are_read_whole_and_padded(spark, tmp_path):
    rows = [(f"l{n}", f"u{n}", f"i{k}", "c", [float(n), float(k)], float(k == 0)) for n in range(3)
            for k in range(n + 2)]
    df = spark.createDataFrame(rows, "list_id string, user_id string, item_id string, category string, "
                                     "features array<float>, label float")
    df.repartition(2, "list_id").sortWithinPartitions("list_id").write.parquet(str(tmp_path / "s"))
    files = sorted(str(p) for p in (tmp_path / "s").glob("*.parquet"))
    assert count_lists(files) == 3
    got = sorted(lists(files, 2), key=lambda x: len(x[0]))
    assert [len(x[0]) for x in got] == [2, 3, 4]
    assert got[2][2].tolist() == [[2.0, k] for k in range(4)] and got[2][3].tolist() == [1, 0, 0, 0]
    batch = next(iter(dataset(files, 2, 3, 8)))
    assert batch["features"].shape == (3, 3, 2) and batch["mask"].numpy().sum() == 2 + 3 + 3  # cut to 3


def test_the_model_scores_pairs_from_normalised_features():
    spec = ModelSpec(("a", "b"), (10.0, 0.0), (2.0, 1.0), 4, 64, 16, (8,))
    model = build_ranker(spec)
    out = model({"features": tf.constant([[10.0, 0.0], [12.0, 1.0]]), "item_id": tf.constant(["x", "y"]),
                 "category": tf.constant(["c", "c"])})
    assert out.shape == (2,)
    norm = model.get_layer("normalise")(tf.constant([[12.0, 1.0]])).numpy()
    assert norm.tolist() == [[pytest.approx(1.0), pytest.approx(1.0)]]


def test_the_untrained_model_is_reciprocal_rank_fusion_of_the_sources():
    names = ("score_a", "inv_rank_a", "score_b", "inv_rank_b", "log_pop_1d")
    spec = ModelSpec(names, (0.3, 0.2, 0.1, 0.1, 2.0), (0.5, 0.25, 0.2, 0.1, 1.0), 4, 64, 16, (8,), 4.0)
    model = build_ranker(spec)
    x = np.array([[0.9, 1.0, 0.0, 0.0, 3.0], [0.1, 0.5, 0.7, 1 / 3, 0.0], [0.0, 0.0, 0.0, 0.0, 9.0]], np.float32)
    out = model({"features": tf.constant(x), "item_id": tf.constant(["x", "y", "z"]),
                 "category": tf.constant(["c", "d", "c"])}).numpy()
    # Up to a constant shared by every pair: 4 * (1/rank_a + 1/rank_b), nothing else counts.
    want = [4.0 * (row[1] + row[3]) for row in x]
    assert (out - out[2]).tolist() == pytest.approx([w - want[2] for w in want], abs=1e-5)


def test_the_published_version_is_the_same_for_the_same_weights(tmp_path):
    import json
    import time
    from dataclasses import fields

    from shoprank.ml.train import TrainParams, publish_model

    spec = {"feature_names": ["score_a", "inv_rank_a"], "mean": [0.0, 0.0], "std": [1.0, 1.0],
            "embedding_dim": 4, "item_buckets": 64, "category_buckets": 16, "hidden": [8]}

    def publish(folder, seed):  # a re-run night: the same weights, saved again later
        p = TrainParams(**{f.name: () if f.name.endswith("_files") else 0 for f in fields(TrainParams)}
                        | {"model_dir": str(tmp_path / folder), "loss": "listwise", "prior_lists": "all", "spec": spec})
        tf.keras.utils.set_random_seed(seed)
        (tmp_path / f"scratch-{folder}").mkdir()
        publish_model(build_ranker(ModelSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})),
                      p, {}, tmp_path / f"scratch-{folder}")
        return json.loads((tmp_path / folder / "training.json").read_text())["model_sha1"]

    first = publish("a", 1)
    time.sleep(1.1)  # the saved file records the second it was saved: a later save differs
    assert publish("b", 1) == first
    assert publish("c", 2) != first  # other weights, another version


def test_each_source_alone_is_a_prior_the_fusion_breaking_its_ties():
    names = ("score_a", "inv_rank_a", "inv_rank_b", "log_pop_1d")
    spec = ModelSpec(names, (0.3, 0.2, 0.1, 2.0), (0.5, 0.25, 0.1, 1.0), 4, 64, 16, (8,))
    got = priors(spec)
    assert list(got) == ["fusion", "source:a", "source:b"]
    model = build_ranker(spec)
    model.get_layer("wide_logit").kernel.assign(got["source:b"])
    # b ranks the second item first and found neither of the others; a breaks that tie.
    x = np.array([[0.0, 1.0, 0.0, 5.0], [0.0, 0.0, 0.5, 0.0], [0.0, 0.5, 0.0, 0.0]], np.float32)
    out = model({"features": tf.constant(x), "item_id": tf.constant(["x", "y", "z"]),
                 "category": tf.constant(["c", "c", "c"])}).numpy()
    assert np.argsort(-out).tolist() == [1, 0, 2]
    want = [0.01 * r[1] + r[2] for r in x]
    assert (out - out[2]).tolist() == pytest.approx([w - want[2] for w in want], abs=1e-5)


def test_the_weighted_fusion_weighs_each_inverse_rank_by_its_source_quality_to_a_power():
    names = ("score_a", "inv_rank_a", "inv_rank_b", "inv_rank_c", "log_pop_1d")
    spec = ModelSpec(names, (0.3, 0.2, 0.1, 0.1, 2.0), (0.5, 0.25, 0.1, 0.2, 1.0), 4, 64, 16, (8,), 2.0)
    model = build_ranker(spec)
    model.get_layer("wide_logit").kernel.assign(weighted_prior(spec, {"a": 0.3, "b": 0.1, "c": math.nan}, 2.0))
    x = np.array([[0.9, 1.0, 0.0, 1.0, 3.0], [0.1, 0.5, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 9.0]], np.float32)
    out = model({"features": tf.constant(x), "item_id": tf.constant(["x", "y", "z"]),
                 "category": tf.constant(["c", "d", "c"])}).numpy()
    # Weights 0.09 : 0.01 : 0 (NaN: no list), scaled to average 1 over the 3 sources, times 2.0.
    a = {"a": 0.09 * 3 / 0.10, "b": 0.01 * 3 / 0.10}
    want = [2.0 * (a["a"] * r[1] + a["b"] * r[2]) for r in x]
    assert (out - out[2]).tolist() == pytest.approx([w - want[2] for w in want], abs=1e-4)
    plain = priors(spec)["fusion"]
    assert weighted_prior(spec, {"a": 0.3, "b": 0.1, "c": 0.2}, 0.0).tolist() == plain.tolist()  # 0: equal weights
    assert weighted_prior(spec, {"a": 0.0, "b": math.nan}, 2.0).tolist() == plain.tolist()  # nothing to weigh by
    # a start as training.json names it, rebuilt from the quality and power it records
    q = {"a": 0.3, "b": 0.1, "c": 0.2}
    assert start_kernel(spec, "weighted_fusion", q, 2.0).tolist() == weighted_prior(spec, q, 2.0).tolist()
    assert start_kernel(spec, "source:b", q, 2.0).tolist() == priors(spec)["source:b"].tolist()


def test_the_start_is_the_best_untrained_ranking_and_the_fusion_on_a_tie():
    from shoprank.ml.train import pick_prior

    assert pick_prior({"fusion": 0.2, "source:a": 0.3, "source:b": 0.1}) == "source:a"
    assert pick_prior({"source:a": 0.3, "fusion": 0.3, "source:b": 0.3}) == "fusion"
    assert pick_prior({"fusion": math.nan, "source:a": 0.0}) == "source:a"


def test_the_weighted_fusion_is_judged_on_each_fold_of_the_lists_with_the_other_lists_weights():
    from shoprank.ml.train import cross_fitted

    # Source a ranks the even lists well, b the odd ones: in sample, either half's weights
    # would look good on it; out of sample each half gets the other half's favourite.
    on_lists = {"a": np.array([0.8, 0.0, 0.6, 0.2]), "b": np.array([0.0, 0.9, 0.1, 0.5])}
    weigh = lambda q: max(q, key=q.get)  # noqa: E731 - the weights: the best source's name
    seen = []

    def score(best):
        seen.append(best)
        return on_lists[best]  # every list ranked by that source alone

    got = cross_fitted(on_lists, lambda v: float(v.mean()), weigh, score, folds=2)
    assert seen == ["b", "a"]  # weights from the odd lists (b), then from the even ones (a)
    # in list order, so that paired gains against other starts match list by list:
    # even lists (0, 2) ranked by b, odd lists (1, 3) by a
    assert got.tolist() == [0.0, 0.0, 0.1, 0.2]
    assert got.mean() < min(v.mean() for v in on_lists.values())  # here each half's fit misleads the other


def test_with_more_folds_each_list_is_ranked_with_the_weights_of_all_the_others():
    from shoprank.ml.train import cross_fitted

    # Five lists, five folds: list i is ranked by the source that leads on the other four.
    on_lists = {"a": np.array([0.9, 0.5, 0.1, 0.1, 0.1]), "b": np.array([0.0, 0.3, 0.3, 0.3, 0.3])}
    got = cross_fitted(on_lists, lambda v: float(v.mean()), lambda q: max(q, key=q.get),
                       lambda best: on_lists[best], folds=5)
    # without list 0, b leads (0.3 against 0.2); without any other, a does (0.3 or more against 0.225)
    assert got.tolist() == [0.0, 0.5, 0.1, 0.1, 0.1]


@pytest.mark.parametrize(("on", "start"), [
    ({"fusion": (0.30, 0.0), "source:a": (0.32, 0.01)}, "source:a"),  # +0.02, two standard errors
    ({"fusion": (0.30, 0.0), "source:a": (0.32, 0.03)}, "fusion"),  # within one: the anchor stays
    ({"fusion": (0.30, 0.0), "source:a": (0.29, 0.01)}, "fusion"),
])
def test_a_rival_start_replaces_the_anchor_only_beyond_noise(on, start):
    from shoprank.ml.train import pick_start

    assert pick_start(on, "fusion", 1.0, 10_000) == start  # one rival, many lists: the plain one-sided bar
    assert pick_start(on, "fusion", 0.0, 10_000) == max(on, key=lambda n: on[n][0])  # 0: the point best


def test_the_best_of_many_starts_on_a_few_lists_must_clear_a_higher_bar():
    from shoprank.ml.train import pick_start, selection_bar

    assert selection_bar(1.959964, 1, 6) == pytest.approx(2.5706, abs=1e-4)  # t(5) at 97.5%, from the table
    assert selection_bar(1.0, 1, 10**6) == pytest.approx(1.0, abs=1e-3)
    assert selection_bar(1.0, 10, 10**6) == pytest.approx(2.1478, abs=1e-3)  # z at 1 - 0.1587 / 10
    assert selection_bar(0.0, 10, 6) == 0.0
    assert selection_bar(1.0, 10, 1) == math.inf
    # MovieLens 2018-03-28: covisit beat the weighted fusion by 1.74 standard errors, the
    # best of 11 rivals on 6 validation lists: chance, so the weighted fusion stays.
    on = {f"source:{i}": (0.07, 0.09) for i in range(10)} | {"weighted_fusion": (0.069, 0.0),
                                                             "source:covisit": (0.230, 0.093)}
    assert pick_start(on, "weighted_fusion", 1.0, 6) == "weighted_fusion"
    on_many = on | {"source:covisit": (0.230, 0.0093)}  # 100 times the lists, a tenth of the error
    assert pick_start(on_many, "weighted_fusion", 1.0, 600) == "source:covisit"


def _paired(v, base):
    d = np.asarray(v) - np.asarray(base)
    return float(np.mean(v)), float(d.std(ddof=1) / math.sqrt(len(d)))


def test_the_weighted_fusion_is_the_start_unless_a_rival_beats_it_beyond_noise():
    from shoprank.ml.train import choose_start

    n = 100
    weighted = np.random.default_rng(7).uniform(0.0, 0.4, n)
    within = weighted + 0.01 + 0.1 * np.tile([1.0, -1.0], n // 2)  # leads by 0.01, one standard error
    beyond = weighted + 0.05 + 0.01 * np.tile([1.0, -1.0], n // 2)  # leads by 0.05, fifty errors

    def start(fusion):
        return choose_start({"weighted_fusion": weighted, "fusion": fusion, "source:a": weighted - 0.01},
                            _paired, len, 1.0)

    assert start(within) == "weighted_fusion"  # the plain fusion's point lead is noise
    assert start(beyond) == "fusion"


def _history(*epochs):
    """Training history: epoch 0 (the start) then (phase, val NDCG[, gain's standard error]) per epoch."""
    return [{"epoch": 0, "phase": "prior", "val_ndcg": epochs[0], "gain_se": 0.0}] + [
        {"epoch": n, "phase": e[0], "val_ndcg": e[1], "gain_se": e[2] if len(e) > 2 else 0.0}
        for n, e in enumerate(epochs[1:], 1)]


@pytest.mark.parametrize(("history", "schedule"), [
    (_history(0.3, ("fusion", 0.2), ("fusion", 0.3), ("full", 0.1)), []),  # ties never beat the start
    (_history(0.1, ("fusion", 0.2), ("fusion", 0.4), ("fusion", 0.3), ("full", 0.35)), [("fusion", 2)]),
    (_history(0.1, ("fusion", 0.2), ("fusion", 0.15), ("full", 0.1), ("full", 0.5), ("full", 0.5)),
     [("fusion", 1), ("full", 2)]),
    (_history(0.3, ("fusion", 0.2), ("full", 0.4)), [("full", 1)]),  # full phase from the untrained start
    (_history(math.nan, ("fusion", math.nan)), []),  # no validation list: nothing was chosen
])
def test_refit_replays_the_epochs_that_led_to_the_kept_one(history, schedule):
    from shoprank.ml.train import kept_epoch, refit_schedule

    assert refit_schedule(history, kept_epoch(history, 1.0)) == schedule


@pytest.mark.parametrize(("history", "kept"), [
    (_history(0.30, ("fusion", 0.32, 0.03), ("full", 0.31, 0.02)), 0),  # +0.02, +0.01: within one standard error
    (_history(0.30, ("fusion", 0.32, 0.01), ("full", 0.31, 0.005)), 1),  # +0.02, two standard errors
    (_history(0.30, ("fusion", 0.32, math.inf)), 0),  # one validation list: no error estimate
    (_history(0.30, ("fusion", 0.29, 0.001)), 0),
    (_history(0.30, ("fusion", 0.32, 0.005), ("full", 0.33, 0.05)), 1),  # the best is noise, epoch 1 is not
    # Both clear one error; epoch 1's gain is the surer (+0.009 - 0.0067 > +0.016 - 0.0152):
    # the largest point gain of many epochs is partly luck (a Taobao night's history)
    (_history(0.0912, ("fusion", 0.1002, 0.0067), ("full", 0.1020, 0.0129), ("full", 0.1074, 0.0152)), 1),
    (_history(0.10, ("fusion", 0.12, 0.01), ("full", 0.14, 0.01), ("full", 0.14, 0.01)), 2),  # the first of equals
    (_history(0.10, ("fusion", math.nan, 0.01), ("full", 0.11, 0.001)), 2),  # NaN never wins
])
def test_a_trained_epoch_is_served_only_if_it_beats_the_start_beyond_noise(history, kept):
    from shoprank.ml.train import kept_epoch

    assert kept_epoch(history, 1.0) == kept
    surest = [h["val_ndcg"] - history[0]["val_ndcg"] - h["gain_se"] for h in history[1:]]
    surest = [(-1.0 if m != m else m) for m in surest]
    assert kept == (1 + surest.index(max(surest)) if max(surest) > 0 else 0)  # the plain-Python rule
    start = history[0]["val_ndcg"]
    any_gain = max(range(len(history)), key=lambda e: history[e]["val_ndcg"] if history[e]["val_ndcg"] > start else 0)
    assert kept_epoch(history, 0.0) == any_gain  # 0: the best epoch with any gain


def test_the_best_of_many_epochs_must_clear_the_bar_of_a_rival_start():
    from shoprank.ml.train import epoch_bar, kept_epoch, selection_bar, trained_epochs

    # Taobao 2017-12-02: epoch 1 led the start by 1.34 errors on ~100 lists, the surest of
    # three epochs: past one error, not past the bar for the best of three.
    history = _history(0.0912, ("fusion", 0.1002, 0.0067), ("full", 0.1020, 0.0129), ("full", 0.1074, 0.0152))
    bar = epoch_bar(history, 1.0, 100)
    assert bar == selection_bar(1.0, 3, 100)  # three trained epochs are three rivals
    assert kept_epoch(history, 1.0) == 1
    assert kept_epoch(history, bar) == 0
    # NaN epochs (no validation list) are no rivals; one epoch on many lists: one error
    assert trained_epochs(_history(0.1, ("fusion", math.nan), ("full", 0.2))) == 1
    assert epoch_bar(_history(0.1, ("fusion", math.nan), ("full", 0.2)), 1.0, 10**6) == pytest.approx(1.0, abs=1e-3)
    assert epoch_bar(_history(0.1, ("fusion", 0.2, 0.01)), 0.0, 6) == 0.0  # 0: any gain, as before
    # a clear gain clears it: +0.05 at 0.005 is ten errors
    assert kept_epoch(_history(0.30, ("fusion", 0.35, 0.005)), epoch_bar(_history(0.30, ("fusion", 0.35)), 1.0, 50)) == 1


@pytest.mark.parametrize(("visible", "local_rank", "assigned", "use_local_rank", "gpu"), [
    (4, 1, [], False, 1),  # no GPU-aware scheduling: the local rank
    (4, 1, ["3"], False, 3),  # Spark gave the task GPU 3: not its neighbour's
    (4, 1, ["3"], True, 1),  # HOROVOD_SPARK_USE_LOCAL_RANK_GPU_INDEX=1
])
def test_a_rank_trains_on_the_gpu_spark_assigned_its_task(visible, local_rank, assigned, use_local_rank, gpu):
    assert rank_gpu(visible, local_rank, assigned, use_local_rank) == gpu


def test_a_rank_past_the_visible_gpus_says_so():
    with pytest.raises(TrainingError, match=r"expected a GPU at index 2 \(local rank\); found 2 visible"):
        rank_gpu(2, 2, [], False)
    with pytest.raises(TrainingError, match=r"index 5 \(Spark's GPU address 5\); found 4 visible"):
        rank_gpu(4, 0, ["5"], False)
