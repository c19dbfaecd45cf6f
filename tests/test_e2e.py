"""The whole nightly on a tiny generated dataset, for real: Spark local mode,
Delta tables through delta-rs, Horovod with two Gloo ranks, a model that learns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys

import pytest
from pyspark.sql import functions as F

from shoprank import pipeline
from shoprank.config import load_config
from shoprank.errors import QualityGateError
from shoprank.generate import generate
from shoprank.storage import TableStore

RUN_DATE = dt.date(2026, 11, 21)
TABLES_TO_COUNT = ["quarantine", "items", "interactions", "run_audit", "data_profile", "user_features",
                   "item_features", "candidates", "recommendations", "latest_recommendations", "metrics"]
INJECTED_REASONS = {"null_user_id", "null_item_id", "unknown_action", "bad_timestamp", "future_timestamp",
                    "stale_timestamp", "malformed_line", "bot_user"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def night_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("nightly")
    overrides = [f"storage.warehouse={root}/warehouse", f"storage.work_dir={root}/work",
                 f"input.actions_path={root}/data/actions", f"input.items_path={root}/data/items",
                 "generate.users=500", "generate.items=250", "generate.days=8", "train.epochs=4"]
    cfg = load_config("conf/local.toml", overrides)
    generate(cfg.generate, cfg.input.actions_path, cfg.input.items_path, RUN_DATE)
    return cfg, overrides, root


def counts(store: TableStore) -> dict[str, int]:
    return {t: store.read(t).count() for t in TABLES_TO_COUNT}


@pytest.fixture(scope="module")
def first_run(spark, night_cfg):
    cfg, _, _ = night_cfg
    store = TableStore(spark, cfg.storage.warehouse, cfg.storage.engine)
    night = pipeline.Night(spark, cfg, RUN_DATE, store, run_version=1)
    summary = pipeline.run_nightly(night)
    return store, summary, counts(store)


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


def test_metrics_written_and_ranker_beats_popularity(first_run):
    store, summary, _ = first_run
    m = {(r.model, r.metric): r.value for r in store.read("metrics", RUN_DATE).collect()}
    assert {("ranker", "ndcg@10"), ("popularity", "ndcg@10"), ("ranker", "auc"), ("ranker", "hr@10")} <= set(m)
    assert m[("ranker", "ndcg@10")] > m[("popularity", "ndcg@10")]
    assert summary["train"]["ranks"] == 2


def test_rerun_of_same_date_leaves_counts_unchanged(spark, night_cfg, first_run):
    cfg, _, _ = night_cfg
    store, _, before = first_run
    night = pipeline.Night(spark, cfg, RUN_DATE, store, run_version=2)
    pipeline.run_nightly(night)
    assert counts(store) == before


def test_retried_ingest_skips_committed_writes_and_still_reconciles(spark, night_cfg, first_run):
    cfg, _, _ = night_cfg
    store, summary, _ = first_run
    tables = ["items", "interactions", "quarantine", "run_audit", "data_profile"]
    versions = {t: store.version(t) for t in tables}
    night = pipeline.Night(spark, cfg, RUN_DATE, store, run_version=1)
    again = pipeline.run_ingest(night)
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
    night = pipeline.Night(spark, next_cfg, next_day, store, run_version=1)
    pipeline.run_ingest(night)
    with pytest.raises(QualityGateError, match="accepted_rows=.* outside allowed"):
        pipeline.run_gate(night)
    forced = pipeline.Night(spark, next_cfg, next_day, store, force=True, run_version=1)
    breaches = pipeline.run_gate(forced)
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
    assert "train.epochs: expected int, found 'lots'" in proc.stderr
    bad_date = subprocess.run([sys.executable, "-m", "shoprank.cli", "ingest", "--conf", "conf/local.toml",
                               "--run-date", "21/11/2026"], capture_output=True, text=True, timeout=120)
    assert bad_date.returncode == 2 and "expected a date YYYY-MM-DD" in bad_date.stderr
