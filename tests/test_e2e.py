"""The whole nightly on a tiny generated dataset, for real: Spark local mode,
Delta tables through delta-rs, Horovod with two Gloo ranks, a model that learns."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from shoprank import stages
from shoprank.config import load_config
from shoprank.errors import QualityGateError
from shoprank.generate import generate
from shoprank.night import Night
from shoprank.stages import gate, ingest
from shoprank.storage import TableStore, fs

RUN_DATE = dt.date(2026, 11, 21)
TABLES_TO_COUNT = ["quarantine", "items", "interactions", "run_audit", "data_profile", "user_features",
                   "item_features", "candidates", "recommendations", "latest_recommendations", "metrics"]
INJECTED_REASONS = {"null_user_id", "null_item_id", "unknown_action", "bad_timestamp", "future_timestamp",
                    "stale_timestamp", "malformed_line", "bot_user"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def night_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("nightly")
    overrides = [f"storage.warehouse={root}/warehouse", f"storage.artifacts={root}/artifacts",
                 f"input.actions_path={root}/data/actions", f"input.items_path={root}/data/items",
                 "generate.users=300", "generate.items=150", "generate.days=8", "train.epochs=2",
                 "examples.windows=1", "train.refit=true",  # off by default: the refit path runs here
                 "evaluate.horizon_days=1"]
    cfg = load_config("conf/local.toml", overrides)
    generate(cfg.generate, cfg.input.actions_path, cfg.input.items_path, RUN_DATE)
    return cfg, overrides, root


def counts(store: TableStore) -> dict[str, int]:
    return {t: store.read(t).count() for t in TABLES_TO_COUNT}


@pytest.fixture(scope="module")
def first_run(spark, night_cfg):
    """Two nights: the second scores the list the first published. As in production, the
    first night's log holds the daily files up to its own date."""
    cfg, _, root = night_cfg
    earlier = root / "data" / "actions_until_yesterday"
    earlier.mkdir()
    for f in sorted((root / "data" / "actions").iterdir())[:-1]:
        (earlier / f.name).write_bytes(f.read_bytes())
    # The first night only has to publish a list for the second to score: four recall
    # sources keep it short; the second night runs the default set.
    first = dataclasses.replace(cfg, input=dataclasses.replace(cfg.input, actions_path=str(earlier)),
                                candidates=dataclasses.replace(cfg.candidates,
                                                               sources=("covisit", "ease", "popular", "content")))
    stages.run_nightly(Night.open(spark, first, RUN_DATE - dt.timedelta(days=1), run_version=1))
    night = Night.open(spark, cfg, RUN_DATE, run_version=1)
    summary = stages.run_nightly(night)
    return night.tables, summary, counts(night.tables)


def test_recommendations_k_per_eligible_user(first_run):
    store, _, _ = first_run
    recs = store.read("recommendations", RUN_DATE)
    eligible = store.read("user_features", RUN_DATE).select("user_id")
    per_user = recs.groupBy("user_id").agg(F.count(F.lit(1)).alias("n"), F.countDistinct("item_id").alias("d"),
                                           F.min("rank").alias("lo"), F.max("rank").alias("hi"))
    assert per_user.count() == eligible.count() > 0
    assert per_user.filter("n != 10 or d != 10 or lo != 1 or hi != 10").count() == 0
    assert eligible.join(per_user, "user_id", "left_anti").count() == 0
    latest = store.read("latest_recommendations")
    assert latest.count() == eligible.count()
    assert latest.filter(F.size("item_ids") != 10).count() == 0


def test_published_lists_hold_only_sellable_catalogue_items(first_run):
    store, _, _ = first_run
    recs = store.read("recommendations", RUN_DATE)
    items = store.read("items", RUN_DATE)
    sellable = items.filter("active and price is not null and not price_filled").select("item_id")
    assert recs.join(sellable, "item_id", "left_anti").count() == 0
    # The filter had work to do: the log references unknown items, and some of the
    # most popular items are inactive or have no price of their own.
    inter = store.read("interactions", RUN_DATE)
    assert inter.filter(~F.col("item_known")).count() > 0
    top = inter.groupBy("item_id").count().orderBy(F.desc("count")).limit(20)
    assert top.join(sellable, "item_id", "left_anti").count() > 0
    assert recs.join(top.join(sellable, "item_id", "left_anti"), "item_id").count() == 0
    assert recs.join(inter.filter(~F.col("item_known")).select("item_id"), "item_id").count() == 0


def test_injected_bad_rows_are_quarantined_with_reasons(first_run):
    store, summary, _ = first_run
    q = store.read("quarantine", RUN_DATE)
    reasons = {r.reason for r in q.select("reason").distinct().collect()}
    assert reasons >= INJECTED_REASONS
    assert "bad_price" in reasons  # from the item table
    assert q.filter(F.col("raw").isNull() | F.col("source_file").isNull()).count() == 0
    audit = {r.source: r for r in store.read("run_audit", RUN_DATE).collect()}
    for source in ("actions", "items"):
        a = audit[source]
        assert a.reconciled
        assert a.input_rows == a.accepted + a.quarantined + a.exact_duplicates + a.near_duplicates
    assert audit["actions"].exact_duplicates > 0 and audit["actions"].near_duplicates > 0
    # unknown items are kept and flagged, not dropped
    assert store.read("interactions", RUN_DATE).filter(~F.col("item_known")).count() > 0


def test_evaluate_scores_the_list_published_before_and_keeps_diagnostics_apart(night_cfg, first_run):
    store, summary, _ = first_run
    rows_ = store.read("metrics", RUN_DATE).filter("segment = 'all'").collect()
    m = {(r.kind, r.model, r.metric): r for r in rows_}
    published, baseline = m[("published", "shoprank", "ndcg")], m[("baseline", "popular_30d", "ndcg")]
    assert published.list_date == baseline.list_date == RUN_DATE - dt.timedelta(days=1)
    assert published.users == baseline.users > 0 and 0 <= published.value <= 1
    assert {("published", "shoprank", x) for x in ("hr", "recall", "precision", "map", "coverage")} <= set(m)
    # validation lists: a diagnostic, not a list; in-sample when the model was refit on them
    refit = summary["train"]["refit_epochs"] > 0
    assert refit == (summary["train"]["best_epoch"] > 0)  # refit (on here) follows a trained epoch
    assert m[("diagnostic", "ranker_in_sample" if refit else "ranker", "auc")].list_date is None
    assert summary["train"]["ranks"] == 2
    # the untrained start was chosen on every labelled list, training windows' and validation's,
    # each the user's whole candidate set (the training windows' "judge" lists, not the sampled ones)
    examples = summary["examples"]
    assert summary["train"]["start_lists"] == examples["judge1"]["lists"] + examples["validation0"]["lists"]
    assert examples["judge1"]["lists"] > 0 and examples["judge1"]["positives"] <= examples["train1"]["positives"]
    # every start was judged: both fusions and each source alone ("content" needs text vectors)
    starts = set(summary["train"]["starts"]) - {"fusion", "weighted_fusion"}
    sources = {f"source:{s}" for s in night_cfg[0].candidates.sources}
    assert len(summary["train"]["starts"]) - len(starts) == 2 and sources - {"source:content"} <= starts <= sources
    assert summary["quality_report"].endswith("quality.html")


def test_a_shops_first_night_publishes_the_untrained_fusion(spark, night_cfg, tmp_path):
    """A shop one day old: no label window before the night has a returning user, so
    there is nothing to train on or to choose a start with. The night still publishes a
    list for every eligible user: the plain fusion of the recall sources, untrained."""
    cfg, _, root = night_cfg
    first = sorted((root / "data" / "actions").iterdir())[0]
    day = dt.date.fromisoformat(first.stem[len("actions-"):])
    (tmp_path / "actions").mkdir()
    (tmp_path / "actions" / first.name).write_bytes(first.read_bytes())
    young = dataclasses.replace(
        cfg, input=dataclasses.replace(cfg.input, actions_path=str(tmp_path / "actions")),
        storage=dataclasses.replace(cfg.storage, warehouse=str(tmp_path / "wh"), artifacts=str(tmp_path / "art")))
    night = Night.open(spark, young, day, run_version=1)
    summary = stages.run_nightly(night)
    assert summary["train"]["untrained"].startswith("no training list has a positive")
    assert (summary["train"]["ranks"], summary["train"]["start"], summary["train"]["best_epoch"]) == (0, "fusion", 0)
    recs = night.tables.read("recommendations", day)
    eligible = night.tables.read("user_features", day).select("user_id")
    assert recs.select("user_id").distinct().count() == eligible.count() > 0
    # each published score is the fusion's: the sum of the item's inverse ranks over the sources
    cands = night.tables.read("candidates", day).select("user_id", "item_id", "source_ranks").collect()
    offset = young.candidates.rank_offset
    fused = {(c.user_id, c.item_id): sum(1.0 / (offset + r) for r in c.source_ranks.values()) for c in cands}
    published = recs.select("user_id", "item_id", "score").collect()
    assert max(abs(r.score - fused[(r.user_id, r.item_id)]) for r in published) < 1e-4


def test_a_bare_log_and_catalogue_publish_full_lists(spark, night_cfg, tmp_path):
    """The least a shop's data can hold: a log of (user, item, time), every event a
    purchase, and a catalogue of item ids alone (no category, price, brand or text). The
    night runs on the defaults: the gate passes (no price is required where none is
    given), text and category sources stand aside, and every eligible user gets a full
    list of catalogue items."""
    cfg, _, root = night_cfg
    for name in ("actions", "items"):
        (tmp_path / name).mkdir()
    for f in sorted((root / "data" / "actions").iterdir()):
        with f.open(newline="") as src, (tmp_path / "actions" / f.name).open("w", newline="") as dst:
            out = csv.writer(dst)
            out.writerow(["user_id", "item_id", "ts", "action"])
            out.writerows([r["user_id"], r["item_id"], r["ts"], "purchase"] for r in csv.DictReader(src))
    with (root / "data" / "items" / "items.csv").open(newline="") as src:
        ids = sorted({r["item_id"] for r in csv.DictReader(src) if r["item_id"]})
    (tmp_path / "items" / "items.csv").write_text("item_id\n" + "".join(f"{i}\n" for i in ids))
    bare = dataclasses.replace(
        cfg, input=dataclasses.replace(cfg.input, actions_path=str(tmp_path / "actions"),
                                       items_path=str(tmp_path / "items")),
        storage=dataclasses.replace(cfg.storage, warehouse=str(tmp_path / "wh"), artifacts=str(tmp_path / "art")))
    night = Night.open(spark, bare, RUN_DATE, run_version=1)
    stages.run_nightly(night)
    store = night.tables
    items = store.read("items", RUN_DATE)
    assert items.filter("price is not null or category != 'unknown'").count() == 0
    assert store.read("interactions", RUN_DATE).filter("action != 'purchase'").count() == 0
    used = {r.s for r in store.read("candidates", RUN_DATE).select(F.explode("sources").alias("s")).distinct()
            .collect()}  # a dozen names at most
    assert len(used) >= 4 and not used & {"content", "category_popular", "trending"}
    recs = store.read("recommendations", RUN_DATE)
    eligible = store.read("user_features", RUN_DATE).select("user_id")
    per_user = recs.groupBy("user_id").agg(F.countDistinct("item_id").alias("d"))
    assert per_user.count() == eligible.count() > 0
    assert per_user.filter("d != 10").count() == 0
    assert recs.join(items, "item_id", "left_anti").count() == 0


def test_rerun_of_same_date_publishes_the_same_rows(spark, night_cfg, first_run):
    """A re-run night trains again (two Horovod ranks, the same seeds and shards): the same
    losses epoch by epoch, the same weights, so the same published rows and model version."""
    cfg, _, _ = night_cfg
    store, _, before = first_run
    again = Night.open(spark, cfg, RUN_DATE, run_version=2)
    meta = fs.join(again.artifacts.model_dir(RUN_DATE), "training.json")
    trained = json.loads(fs.read_bytes(meta))
    published = store.read("recommendations", RUN_DATE).collect()
    stages.run_nightly(again)
    assert counts(store) == before
    retrained = json.loads(fs.read_bytes(meta))
    assert [h["loss"] for h in retrained["history"]] == [h["loss"] for h in trained["history"]]
    assert len(trained["history"]) > 1 and retrained["model_sha1"] == trained["model_sha1"]
    assertDataFrameEqual(store.read("recommendations", RUN_DATE), published)


def test_retried_ingest_skips_committed_writes_and_still_reconciles(spark, night_cfg, first_run):
    cfg, _, _ = night_cfg
    store, summary, _ = first_run
    tables = ["items", "interactions", "quarantine", "run_audit", "data_profile"]
    versions = {t: store.version(t) for t in tables}
    again = ingest.run(Night.open(spark, cfg, RUN_DATE, run_version=1))
    # Every write was committed before (an Airflow retry): none applies twice, and the
    # counts come from the plan run once more into the noop sink, read-back quarantine.
    assert {t: store.version(t) for t in tables} == versions
    assert again == summary["ingest"]


def test_gate_breach_stops_the_night_and_force_overrides(spark, night_cfg, first_run):
    cfg, _, root = night_cfg
    store, _, _ = first_run
    # The next night sees a much smaller log: only two of the eight daily files.
    small = root / "data" / "actions_small"
    small.mkdir()
    for f in sorted((root / "data" / "actions").iterdir())[-2:]:
        (small / f.name).write_text(f.read_text())
    next_cfg = dataclasses.replace(cfg, input=dataclasses.replace(cfg.input, actions_path=str(small)))
    next_day = RUN_DATE + dt.timedelta(days=1)
    night = Night.open(spark, next_cfg, next_day, run_version=1)
    ingest.run(night)
    with pytest.raises(QualityGateError, match="accepted_rows=.* outside allowed"):
        gate.run(night)
    forced = Night.open(spark, next_cfg, next_day, force=True, run_version=1)
    breaches = gate.run(forced)
    assert breaches and os.path.exists(forced.summary["report"])


def test_stage_runs_under_spark_submit(night_cfg, first_run):
    """A job file submitted with pyspark's own spark-submit, as the README shows."""
    _, overrides, _ = night_cfg
    submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
    sets = [arg for o in overrides for arg in ("--set", o)]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    proc = subprocess.run([submit, "--master", "local[2]", "jobs/features.py", "--conf", "conf/local.toml",
                           "--run-date", RUN_DATE.isoformat(), *sets], capture_output=True, text=True,
                          env=env, timeout=600)
    output = proc.stdout + proc.stderr  # spark-submit merges the Python driver's stderr into stdout
    assert proc.returncode == 0, output[-3000:]
    assert "stage features: done" in output


def test_cli_exits_non_zero_with_a_clear_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "shoprank.cli", "ingest", "--conf", "conf/local.toml",
                           "--run-date", "2026-11-21", "--set", "train.epochs=lots"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--set train.epochs=lots: expected an integer, found 'lots'" in proc.stderr
    bad_date = subprocess.run([sys.executable, "-m", "shoprank.cli", "ingest", "--conf", "conf/local.toml",
                               "--run-date", "21/11/2026"], capture_output=True, text=True, timeout=120)
    assert bad_date.returncode == 2 and "expected a date YYYY-MM-DD" in bad_date.stderr


@pytest.mark.parametrize("stage, sets, code, message", [
    ("features", [], 7, "MissingInputError: table 'interactions' has no data for 2026-11-21; run the 'ingest'"),
    ("score", [], 7, "MissingInputError: no model at"),
    ("ingest", ["input.actions_path=/nonexistent/actions"], 3, "InputError: no input files at /nonexistent/actions"),
    ("ingest", ["input.encoding=cp1252"], 2, "--set input.encoding=cp1252: expected one of"),
])
def test_each_kind_of_failure_has_its_exit_code(tmp_path, stage, sets, code, message):
    sets = [f"storage.warehouse={tmp_path}/wh", f"storage.artifacts={tmp_path}/art", *sets]
    proc = subprocess.run([sys.executable, "-m", "shoprank.cli", stage, "--conf", "conf/local.toml", "--run-date",
                           "2026-11-21", *[a for s in sets for a in ("--set", s)]],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_only_typed_errors_are_raised():
    from pathlib import Path

    offenders = [str(p) for p in Path("lib").rglob("*.py") if "raise ShopRankError(" in p.read_text()]
    assert offenders == []
