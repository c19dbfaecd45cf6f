import datetime as dt
import glob
import os
import threading

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from shoprank.errors import SchemaMismatchError
from shoprank.schemas import LATEST_RECOMMENDATIONS, METRICS, QUARANTINE
from shoprank.storage import has_delta_jars
from tests.conftest import rows

D1, D2 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)


def metrics_df(spark, day, value, n=3):
    return spark.createDataFrame([metric_row(day, f"m{i}", value + i) for i in range(n)], METRICS)


def metric_row(day, model, value):
    return (day, "published", model, None, "all", "ndcg", 10, value, 5)


def parquet_files(path):
    return set(glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True))


def test_replace_partition_is_idempotent_and_isolated(spark, store):
    store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1)
    store.replace_partition(metrics_df(spark, D2, 0.5), "metrics", D2)
    store.replace_partition(metrics_df(spark, D1, 0.2, n=2), "metrics", D1)  # a re-run of D1
    got = rows(store.read("metrics").select("run_date", "model", "value"), "run_date", "model")
    assert got == [
        {"run_date": D1, "model": "m0", "value": 0.2}, {"run_date": D1, "model": "m1", "value": 1.2},
        {"run_date": D2, "model": "m0", "value": 0.5}, {"run_date": D2, "model": "m1", "value": 1.5},
        {"run_date": D2, "model": "m2", "value": 2.5},
    ]
    assert DeltaTable(store.location("metrics")).version() == 3  # create + three single commits


def test_reading_one_run_date_opens_only_its_files(spark, store):
    store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1)
    store.replace_partition(metrics_df(spark, D2, 0.5), "metrics", D2)
    one = store.read("metrics", D2)
    adds = pa.table(DeltaTable(store.location("metrics")).get_add_actions(flatten=True)).to_pylist()
    d2_files = {f["path"] for f in adds if f["partition.run_date"] == D2}
    assert {os.path.relpath(f.replace("file://", ""), store.location("metrics")) for f in one.inputFiles()} == d2_files
    assert rows(one.select("run_date", "value"), "value") == [
        {"run_date": D2, "value": v} for v in (0.5, 1.5, 2.5)]
    assert store.read("metrics", dt.date(2026, 1, 1)).count() == 0


def test_retried_write_with_same_txn_version_is_not_applied_twice(spark, store):
    first = store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1, txn_version=7)
    retry = store.replace_partition(metrics_df(spark, D1, 0.9), "metrics", D1, txn_version=7)
    assert not first.skipped and retry.skipped
    assert store.version("metrics") == first.version
    assert {r.value for r in store.read("metrics").collect()} == {0.1, 1.1, 2.1}
    newer = store.replace_partition(metrics_df(spark, D1, 0.9), "metrics", D1, txn_version=8)
    assert not newer.skipped and {r.value for r in store.read("metrics").collect()} == {0.9, 1.9, 2.9}


def test_time_travel_and_history_and_removed_files_not_read(spark, store):
    store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1)
    v1_files = parquet_files(store.location("metrics"))
    store.replace_partition(metrics_df(spark, D1, 0.7), "metrics", D1)
    # The old files are still on disk (until VACUUM) but the log says they are removed.
    assert v1_files <= parquet_files(store.location("metrics"))
    assert {r.value for r in store.read("metrics").collect()} == {0.7, 1.7, 2.7}
    assert {r.value for r in store.read("metrics", version=1).collect()} == {0.1, 1.1, 2.1}
    assert [h["operation"] for h in store.history("metrics")][:2] == ["WRITE", "WRITE"]


def test_schema_policy_rejects_type_change_and_drop_allows_nullable_add(spark, store, tmp_path):
    engine, path = store.engine, str(tmp_path / "t")
    v1 = StructType([StructField("k", StringType(), False), StructField("n", LongType(), True)])
    engine.write(spark.createDataFrame([("a", 1)], v1), path, "t", v1, [], "append", None, None)
    changed = StructType([StructField("k", StringType(), False), StructField("n", StringType(), True)])
    with pytest.raises(SchemaMismatchError, match="column 'n' expected bigint, found string"):
        engine.write(spark.createDataFrame([("b", "x")], changed), path, "t", changed, [], "append", None, None)
    dropped = StructType([StructField("k", StringType(), False)])
    with pytest.raises(SchemaMismatchError, match="column 'n' expected bigint, found column missing"):
        engine.write(spark.createDataFrame([("b",)], dropped), path, "t", dropped, [], "append", None, None)
    added = StructType(v1.fields + [StructField("note", StringType(), True)])
    engine.write(spark.createDataFrame([("b", 2, "new")], added), path, "t", added, [], "append", None, None)
    got = rows(engine.read(path, None), "k")
    assert got == [{"k": "a", "n": 1, "note": None}, {"k": "b", "n": 2, "note": "new"}]


def test_conform_names_the_bad_column(spark, store):
    bad = metrics_df(spark, D1, 0.1).withColumn("value", F.col("value").cast("string"))
    with pytest.raises(SchemaMismatchError, match="table 'metrics': column 'value' expected double, found string"):
        store.replace_partition(bad, "metrics", D1)


def test_merge_upserts_and_rewrites_only_touched_files(spark, store):
    def latest(pairs):
        return spark.createDataFrame([(b, u, D1, [item], [1.0]) for b, u, item in pairs], LATEST_RECOMMENDATIONS)

    store.merge(latest([(0, "u1", "a"), (0, "u2", "a"), (1, "u3", "a")]), "latest_recommendations", ["user_id"])
    bucket1 = {f for f in DeltaTable(store.location("latest_recommendations")).file_uris() if "user_bucket=1" in f}
    store.merge(latest([(0, "u2", "b"), (0, "u4", "b")]), "latest_recommendations", ["user_id"])
    got = {(r.user_id, r.item_ids[0]) for r in store.read("latest_recommendations").collect()}
    assert got == {("u1", "a"), ("u2", "b"), ("u3", "a"), ("u4", "b")}
    after = set(DeltaTable(store.location("latest_recommendations")).file_uris())
    assert bucket1 <= after  # the untouched bucket's file was not rewritten


def test_merge_rejects_duplicate_source_keys(spark, store):
    from shoprank.errors import ShopRankError

    dup = spark.createDataFrame([(0, "u1", D1, ["a"], [1.0]), (0, "u1", D1, ["b"], [1.0])], LATEST_RECOMMENDATIONS)
    with pytest.raises(ShopRankError, match="duplicate keys"):
        store.merge(dup, "latest_recommendations", ["user_id"])


def test_failed_task_leaves_previous_version_and_nothing_visible(spark, store):
    store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1)
    before_version = store.version("metrics")
    before_files = parquet_files(store.location("metrics"))

    @F.udf("double")
    def explode_on_m3(model, value):
        if model == "m3":
            raise RuntimeError("simulated executor crash")
        return value

    good = spark.createDataFrame([metric_row(D1, f"m{i}", float(i)) for i in range(3)], METRICS)
    bad = spark.createDataFrame([metric_row(D1, "m3", 3.0)], METRICS)
    df = good.coalesce(1).union(bad.coalesce(1)).withColumn("value", explode_on_m3("model", "value"))
    with pytest.raises(Exception, match="simulated executor crash"):
        store.replace_partition(df, "metrics", D1)
    assert store.version("metrics") == before_version
    assert {r.value for r in store.read("metrics").collect()} == {0.1, 1.1, 2.1}
    store.vacuum("metrics", retention_hours=0)
    assert parquet_files(store.location("metrics")) == before_files


KILLED_WRITER = """
import datetime as dt, sys, time
from pyspark.sql import functions as F
from shoprank.config import SparkConf
from shoprank.schemas import METRICS
from shoprank.session import build_session
from shoprank.storage import TableStore

spark = build_session(SparkConf(master="local[2]", shuffle_partitions=2))
store = TableStore(spark, sys.argv[1], "delta-rs")
d = dt.date(2026, 11, 20)

@F.udf("double")
def slow(model, value):
    if model == "m3":
        print("HEALTHY-TASK-DONE", flush=True)
        time.sleep(600)  # killed here, after the other task has written its file
    return value

row = lambda model: (d, "published", model, None, "all", "ndcg", 10, 9.0, 5)
good = spark.createDataFrame([row(f"m{i}") for i in range(3)], METRICS)
bad = spark.createDataFrame([row("m3")], METRICS)
store.replace_partition(good.coalesce(1).union(bad.coalesce(1)).withColumn("value", slow("model", "value")),
                        "metrics", d)
"""


def test_killed_writer_leaves_previous_version_and_vacuum_cleans_orphans(spark, store, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1)
    before_version, before_files = store.version("metrics"), parquet_files(store.location("metrics"))
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    proc = subprocess.Popen([sys.executable, str(script), store.warehouse], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            if parquet_files(store.location("metrics")) - before_files:
                break
            time.sleep(0.5)
        time.sleep(2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, its JVM and its Python workers
        proc.wait()
    orphans = parquet_files(store.location("metrics")) - before_files
    assert orphans, "the killed writer should have left part files behind"
    assert store.version("metrics") == before_version
    assert {r.value for r in store.read("metrics").collect()} == {0.1, 1.1, 2.1}
    store.vacuum("metrics", retention_hours=0)
    assert parquet_files(store.location("metrics")) == before_files
    assert {r.value for r in store.read("metrics").collect()} == {0.1, 1.1, 2.1}


def test_concurrent_writers_to_different_partitions_both_commit(spark, store):
    store.replace_partition(metrics_df(spark, D1, 0.0), "metrics", D1)  # table exists
    errors = []

    def write(day, value):
        try:
            store.replace_partition(metrics_df(spark, day, value), "metrics", day)
        except Exception as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(D1, 0.3)), threading.Thread(target=write, args=(D2, 0.6))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = {(r.run_date, r.value) for r in store.read("metrics").collect()}
    assert got == {(D1, 0.3), (D1, 1.3), (D1, 2.3), (D2, 0.6), (D2, 1.6), (D2, 2.6)}
    assert store.version("metrics") == 3


def test_delta_rs_table_declares_a_protocol_spark_delta_accepts(spark, store):
    store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1)
    protocol = DeltaTable(store.location("metrics")).protocol()
    # delta-spark 4 reads reader v1-3 / writer v2-7; delta-rs defaults to reader 1 / writer 2.
    assert protocol.min_reader_version <= 3 and protocol.min_writer_version <= 7


def test_delta_spark_reads_delta_rs_table(spark, store):
    if not has_delta_jars(spark):
        pytest.skip("Delta's JVM jars are not on this session's classpath (no Maven here); "
                    "runs on a cluster image that has them")
    store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1)
    store.replace_partition(metrics_df(spark, D1, 0.2), "metrics", D1)
    got = spark.read.format("delta").load(store.location("metrics"))
    assert {r.value for r in got.collect()} == {0.2, 1.2, 2.2}


def test_reads_tables_written_by_other_delta_writers(spark, store):
    """Files laid out by another writer (here delta-rs's own) are read through the log."""
    import pyarrow as pa
    from deltalake import write_deltalake
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(METRICS)
    data = pa.table({"run_date": [D1, D2], "kind": ["diagnostic"] * 2, "model": ["a", "b"], "list_date": [None] * 2,
                     "segment": ["all"] * 2, "metric": ["auc", "auc"], "k": [None, None], "value": [0.5, 0.6],
                     "users": [3, 4]}, schema=schema)
    write_deltalake(store.location("metrics"), data, partition_by=["run_date"])
    write_deltalake(store.location("metrics"), data.slice(1), mode="overwrite",
                    predicate=f"run_date = '{D2.isoformat()}'")
    got = rows(store.read("metrics").select("run_date", "model", "value"), "run_date")
    assert got == [{"run_date": D1, "model": "a", "value": 0.5}, {"run_date": D2, "model": "b", "value": 0.6}]
    store.replace_partition(metrics_df(spark, D1, 0.9, n=1), "metrics", D1)  # our writer on top
    assert {(r.run_date, r.value) for r in store.read("metrics").collect()} == {(D1, 0.9), (D2, 0.6)}


def test_time_travel_by_timestamp_and_maintain(spark, store):
    import time

    from shoprank.night import Night
    from shoprank.stages import maintain
    from shoprank.storage import ArtifactStore

    for i in range(3):  # three small writes of one partition -> several small files
        store.replace_partition(metrics_df(spark, D1, float(i)), "metrics", D1)
        if i == 0:
            time.sleep(1.1)
            between = dt.datetime.now(dt.UTC).isoformat()
            time.sleep(1.1)
    assert {r.value for r in store.read("metrics", timestamp=between).collect()} == {0.0, 1.0, 2.0}
    store.append(metrics_df(spark, D2, 5.0), "metrics")
    store.append(metrics_df(spark, D2, 6.0, n=1), "metrics")
    before = {(r.run_date, r.model, r.value) for r in store.read("metrics").collect()}
    active_before = len(DeltaTable(store.location("metrics")).file_uris())
    night = Night(spark, None, D1, store, ArtifactStore.at(str(store.warehouse) + "-artifacts"))
    result = maintain.run(night, retention_hours=0)
    assert result["metrics"]["vacuumed_files"] > 0
    assert len(DeltaTable(store.location("metrics")).file_uris()) < active_before  # compacted
    assert {(r.run_date, r.model, r.value) for r in store.read("metrics").collect()} == before
    # Only the live files remain on disk after VACUUM with zero retention.
    live = {os.path.normpath(u) for u in DeltaTable(store.location("metrics")).file_uris()}
    assert {os.path.normpath(f) for f in parquet_files(store.location("metrics"))} == live


def test_batch_commits_staged_tables_together_or_leaves_them_untouched(spark, store):
    store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1)
    before_version, before_files = store.version("metrics"), parquet_files(store.location("metrics"))
    with pytest.raises(RuntimeError, match="a later check failed"), store.batch(D1, txn_version=3) as batch:
        staged = batch.stage(metrics_df(spark, D1, 0.9), "metrics")
        # What was staged can be read back; readers of the table still see the old night.
        assert {r.value for r in batch.frame(staged).collect()} == {0.9, 1.9, 2.9}
        assert {r.value for r in store.read("metrics", D1).collect()} == {0.1, 1.1, 2.1}
        raise RuntimeError("a later check failed")
    assert store.version("metrics") == before_version
    assert parquet_files(store.location("metrics")) == before_files  # staged files deleted

    with store.batch(D1, txn_version=3) as batch:
        batch.stage(metrics_df(spark, D1, 0.9), "metrics")
        batch.stage(spark.createDataFrame([(D1, "actions", "f.csv", "bad_timestamp", "d", "raw", None)], QUARANTINE),
                    "quarantine")
        results = batch.commit()
    assert {r.value for r in store.read("metrics", D1).collect()} == {0.9, 1.9, 2.9}
    assert results["metrics"].version == before_version + 1 and results["quarantine"].rows == 1

    with store.batch(D1, txn_version=3) as retry:  # an Airflow retry of the committed run
        staged = retry.stage(metrics_df(spark, D1, 0.5), "metrics")
        assert staged.skipped and retry.skipped
        assert {r.value for r in retry.frame(staged).collect()} == {0.9, 1.9, 2.9}  # what is committed
        assert retry.commit()["metrics"].skipped
    assert store.version("metrics") == before_version + 1


def test_missing_table_or_partition_is_a_typed_error_naming_the_stage(spark, store):
    from shoprank.errors import MissingInputError

    with pytest.raises(MissingInputError, match="table 'metrics' does not exist"):
        store.read("metrics")
    store.replace_partition(metrics_df(spark, D1, 0.1), "metrics", D1)
    assert store.run_dates("metrics") == [D1]
    with pytest.raises(MissingInputError, match=f"no data for {D2}; run the 'evaluate' stage"):
        store.require("metrics", D2, "evaluate")
    assert store.require("metrics", D1, "evaluate").count() == 3


def test_locations_resolve_local_paths_and_uris(tmp_path, monkeypatch):
    from shoprank.storage import fs

    assert fs.canonical("s3a://bucket/a/b/") == "s3://bucket/a/b"
    assert fs.scheme("s3a://bucket/a") == "s3a" and fs.scheme("file:///x") == "" and fs.scheme("/x") == ""
    monkeypatch.chdir(tmp_path)
    assert fs.absolute("rel/dir") == str(tmp_path / "rel" / "dir")
    assert fs.absolute("file:///abs/x") == "/abs/x"
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.parquet").write_bytes(b"a")
    (src / "sub" / "b.parquet").write_bytes(b"bb")
    (src / "_SUCCESS").write_bytes(b"")
    (src / ".a.parquet.crc").write_bytes(b"")
    dest = f"file://{tmp_path}/store/run"
    fs.put(src, dest)
    assert fs.list_files(dest, ".parquet") == [f"{dest}/a.parquet", f"{dest}/sub/b.parquet"]
    assert fs.get(f"{dest}/sub/b.parquet", tmp_path / "got" / "b").read_bytes() == b"bb"
    fs.delete(dest)
    assert not fs.exists(dest) and fs.list_files(dest) == []


def test_publishing_one_page_keeps_every_other_artifact_of_the_night(tmp_path):
    from shoprank.report import _publish
    from shoprank.storage import ArtifactStore, fs

    art, day = ArtifactStore.at(str(tmp_path / "art")), dt.date(2024, 1, 2)
    others = {art.quality_dir(day), art.backtest_users(day, day, "source:ease")}
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "x.parquet").write_bytes(b"x")
    for location in others:
        fs.put(tmp_path / "kept", location)

    def page(out):
        (out / "report.html").write_text("<html/>")
        return out / "report.html"

    _publish(page, art.report_dir(day))  # the gate's data report, as a rerun publishes it again
    _publish(page, art.backtest_dir(day))
    assert fs.exists(fs.join(art.report_dir(day), "report.html"))
    assert all(fs.list_files(o, ".parquet") for o in others)
