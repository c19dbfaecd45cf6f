"""Item text: hashing, users' interests and nearest items (toy vectors, against numpy),
and the real sentence encoder behind the embeddings stage's cache."""

import datetime as dt

import numpy as np
import pytest

from shoprank import text
from shoprank.schemas import INTERACTIONS, ITEMS
from tests.conftest import rows

D = dt.date(2026, 11, 21)
T = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


def unit(v):
    v = np.asarray(v, np.float32)
    return (v / np.linalg.norm(v)).tolist()


def test_item_texts_skip_empty_and_hash_the_text(spark):
    items = spark.createDataFrame([(D, "a", "c", "b", 1.0, False, "lamp", "warm light", None, True, None),
                                   (D, "b", "c", "b", 1.0, False, "", None, None, True, None),
                                   (D, "c", "c", "b", 1.0, False, "lamp", "warm light", None, True, None)], ITEMS)
    got = {r.item_id: r for r in text.item_texts(items).collect()}
    assert set(got) == {"a", "c"} and got["a"].text == "lamp. warm light"
    assert got["a"].text_hash == got["c"].text_hash  # the same text is embedded once


def test_interests_weigh_recent_and_strong_actions_and_nearest_matches_numpy(spark):
    vecs = {"x": unit([1, 0, 0]), "y": unit([0, 1, 0]), "z": unit([0, 0, 1]), "w": unit([1, 1, 0])}
    vectors = spark.createDataFrame(list(vecs.items()), "item_id string, vector array<float>")
    ev = spark.createDataFrame([
        (D, "u", "x", "purchase", T - dt.timedelta(hours=2), D, "c", "b", 1.0, True, {}),
        (D, "u", "y", "view", T - dt.timedelta(hours=1), D, "c", "b", 1.0, True, {})], INTERACTIONS)
    got = text.interests(ev, vectors, T, half_life_days=1000.0).collect()[0]
    want = np.asarray(vecs["x"]) * 5 + np.asarray(vecs["y"]) * 1  # purchase weighs 5, a view 1
    assert np.allclose(got.interest, want / np.linalg.norm(want), atol=1e-5)
    assert np.allclose(got.last_vector, vecs["y"])  # the latest item
    queries = spark.createDataFrame([("u", got.interest)], "user_id string, interest array<float>")
    near = [r.item_id for r in text.nearest(queries, vectors, 2, blocks=3).orderBy("score", ascending=False).collect()]
    sims = {k: float(np.dot(got.interest, v)) for k, v in vecs.items()}
    assert near == sorted(sims, key=sims.get, reverse=True)[:2]



def test_nearest_reads_down_to_the_nth_item_each_user_never_had(spark):
    rng = np.random.default_rng(7)
    vecs = {f"i{j:02d}": unit(rng.normal(size=4)) for j in range(30)}
    users = {"none": unit(rng.normal(size=4)), "some": unit(rng.normal(size=4)), "top": unit(rng.normal(size=4))}

    def by_sim(u):
        return sorted(vecs, key=lambda i: (-float(np.dot(np.float32(users[u]), np.float32(vecs[i]))), i))

    skips = {"none": None, "some": by_sim("some")[1:12:2] + ["not-an-item"], "top": by_sim("top")[:9]}
    vectors = spark.createDataFrame(list(vecs.items()), "item_id string, vector array<float>")
    queries = spark.createDataFrame([(u, users[u], skips[u]) for u in users],
                                    "user_id string, interest array<float>, skip array<string>")
    for n in (1, 4):
        got = {}
        for r in text.nearest(queries, vectors, n, blocks=3).collect():
            got.setdefault(r.user_id, []).append(r.item_id)
        want = {}
        for u in users:  # walk down the items by cosine until n never had are passed
            left, rows = n, []
            for i in by_sim(u):
                if left == 0:
                    break
                rows.append(i)
                left -= i not in (skips[u] or [])
            want[u] = sorted(rows)
        assert {u: sorted(v) for u, v in got.items()} == want
    assert len(want["top"]) == 9 + n and len(want["none"]) == n  # the skipped top read past, not cut

def test_a_prepared_snapshot_computes_interests_once_and_features_do_not_change(spark):
    from shoprank.config import load_config
    from shoprank.materialise import release
    from shoprank.snapshot import Snapshot

    cfg = load_config("conf/local.toml", [])
    vecs = {"x": unit([1, 0, 0]), "y": unit([0, 1, 0]), "z": unit([1, 1, 0])}
    vectors = spark.createDataFrame(list(vecs.items()), "item_id string, vector array<float>")
    ev = spark.createDataFrame([
        (D, "u", "x", "purchase", T - dt.timedelta(hours=2), D, "c", "b", 1.0, True, {}),
        (D, "u", "y", "view", T - dt.timedelta(hours=1), D, "c", "b", 1.0, True, {}),
        (D, "v", "y", "click", T - dt.timedelta(days=3), D, "c", "b", 1.0, True, {})], INTERACTIONS)
    items = spark.createDataFrame([(D, i, "c", "b", 1.0, False, i, None, None, True, None) for i in vecs], ITEMS)
    plain = Snapshot.at(ev, items, items.select("item_id"), T, cfg, vectors)
    pairs = spark.createDataFrame([("u", "z", {"covisit": 1.0}, {"covisit": 1}), ("v", "x", {}, {})],
                                  "user_id string, item_id string, source_scores map<string,double>, "
                                  "source_ranks map<string,int>")
    kept = plain.prepared()
    assert plain.interest is None and kept.interest is not None and kept.interests() is kept.interest
    assert kept.prepared() is kept  # computed once
    assert rows(kept.interests(), "user_id") == rows(plain.interests(), "user_id")
    assert rows(kept.features(pairs), "user_id") == rows(plain.features(pairs), "user_id")
    release(kept.interest)
    no_text = Snapshot.at(ev, items, items.select("item_id"), T, cfg)
    assert no_text.prepared() is no_text and no_text.interests() is None


@pytest.mark.slow
def test_the_embeddings_stage_embeds_each_text_once(spark, tmp_path):
    from shoprank.config import load_config
    from shoprank.night import Night
    from shoprank.stages import embeddings

    cfg = load_config("conf/local.toml", [f"storage.warehouse={tmp_path}/wh", f"storage.artifacts={tmp_path}/a"])
    night = Night.open(spark, cfg, D)
    items = spark.createDataFrame([
        (D, "a", "home", "b", 1.0, False, "wool rug", "a soft rug", None, True, None),
        (D, "b", "home", "b", 1.0, False, "woollen carpet", "soft floor covering", None, True, None),
        (D, "c", "toys", "b", 1.0, False, "racing car", "a fast toy car", None, True, None)], ITEMS)
    night.tables.replace_partition(items, "items", D)
    assert embeddings.run(night)["embedded"] == 3
    assert embeddings.run(night)["embedded"] == 0  # cached by the hash of each text
    vectors = {r.item_id: np.asarray(r.vector) for r in embeddings.item_vectors(night).collect()}
    assert all(abs(np.linalg.norm(v) - 1) < 1e-3 and len(v) == text.DIM for v in vectors.values())
    assert vectors["a"] @ vectors["b"] > vectors["a"] @ vectors["c"]  # rugs are nearer each other than a car
