"""Launching the Horovod ranks on Spark tasks (`ml.train.horovod_run`), for real on the
session's two local slots: the Gloo timeout reaches every rank, a job asking for more
ranks than Spark can start fails within `start_timeout_s` with a typed error, and so does
one whose rank is stuck, after `run_timeout_s`; one that loses a rank fails at once."""

from __future__ import annotations

import time

import pytest

from shoprank.errors import TrainingError
from shoprank.ml.train import Waits, horovod_run

pytestmark = pytest.mark.slow


def _rank_facts():
    import os

    import horovod.tensorflow as hvd
    import tensorflow as tf

    hvd.init()
    total = int(hvd.allreduce(tf.constant(hvd.rank() + 1), op=hvd.Sum).numpy())
    return hvd.rank(), hvd.size(), total, os.environ["HOROVOD_GLOO_TIMEOUT_SECONDS"]


def test_every_rank_runs_with_the_configured_gloo_timeout(spark):
    facts = horovod_run(spark, _rank_facts, (), 2, Waits(start=120, gloo=45, run=600))
    assert sorted(facts) == [(0, 2, 3, "45"), (1, 2, 3, "45")]


# Horovod's own Spark thread raises when its cancelled job ends: expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_more_ranks_than_task_slots_fail_after_the_start_timeout(spark):
    with pytest.raises(TrainingError, match=r"expected 3 ranks to start within 5 s .* found 2 Spark task slots"):
        horovod_run(spark, _rank_facts, (), 3, Waits(start=5, gloo=30, run=600))
    # The session survives: the waiting tasks were cancelled.
    assert spark.range(10).count() == 10


def _stuck_rank_one():
    import time

    import horovod.tensorflow as hvd
    import tensorflow as tf

    hvd.init()
    if hvd.rank() == 1:
        time.sleep(3_600)  # alive, answering Gloo, never reaching the allreduce
    return int(hvd.allreduce(tf.constant(1), op=hvd.Sum).numpy())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_stuck_rank_ends_the_training_after_the_run_timeout(spark):
    """Rank 0 waits in an allreduce for rank 1, which sleeps: neither Gloo's timeout (the
    peer answers) nor Horovod's stall check ends that; the run deadline does."""
    began = time.monotonic()
    with pytest.raises(TrainingError, match=r"2 ranks expected to end within 20 s \(train.run_timeout_s\)"):
        horovod_run(spark, _stuck_rank_one, (), 2, Waits(start=120, gloo=5, run=20))
    assert time.monotonic() - began < 300  # without the deadline: the hour rank 1 sleeps
    assert spark.range(10).count() == 10


def _rank_one_dies():
    import os

    import horovod.tensorflow as hvd
    import tensorflow as tf

    hvd.init()
    total = int(hvd.allreduce(tf.constant(1), op=hvd.Sum).numpy())
    if hvd.rank() == 1:
        os._exit(1)  # its executor is lost mid-training
    for _ in range(100):
        total += int(hvd.allreduce(tf.constant(1), op=hvd.Sum).numpy())
    return total


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_rank_lost_mid_training_fails_the_training_at_once(spark):
    """Horovod ends the surviving rank and the stage fails with a typed error well before
    any timeout (12 s here, also with Spark's task retries, `local[2,4]`): Airflow's retry
    of the stage is the recovery, not `horovod.spark.run_elastic`."""
    began = time.monotonic()
    with pytest.raises(TrainingError, match=r"horovod training with 2 ranks failed after \d+ s: .*non-zero status"):
        horovod_run(spark, _rank_one_dies, (), 2, Waits(start=120, gloo=30, run=600))
    assert time.monotonic() - began < 120
    assert spark.range(10).count() == 10


def test_a_night_with_fewer_list_files_than_ranks_trains_on_fewer_ranks(spark, tmp_path):
    """One labelled list cannot feed two ranks (each reads whole files): the stage trains on
    one instead of failing the night. Spark leaves empty part files beside it (partition 0
    of each write, and a window with no list), which a rank would have read as its share."""
    import datetime as dt
    import json

    from shoprank import stages
    from shoprank.config import load_config
    from shoprank.ml.reader import with_rows
    from shoprank.night import Night
    from shoprank.storage import fs

    rd = dt.date(2026, 11, 21)
    cfg = load_config("conf/local.toml", [f"storage.warehouse={tmp_path / 'wh'}", "train.epochs=1",
                                          f"storage.artifacts={tmp_path / 'art'}", "train.num_proc=2"])
    night = Night.open(spark, cfg, rd)
    names = ["score_a", "inv_rank_a", "score_b", "inv_rank_b"]
    schema = "list_id string, item_id string, category string, features array<float>, label float"

    def write(split: str, window: int, rows: list) -> None:
        (spark.createDataFrame(rows, schema).repartition(4, "list_id")
         .write.parquet(fs.join(night.artifacts.examples(rd, split), f"window={window}")))

    def one_list(list_id: str) -> list:
        return [(list_id, f"i{k}", "c", [0.9 - k / 4, 1 / (k + 1), k / 4, 1 / (3 - k)], float(k == 1)) for k in range(3)]

    write("train", 1, one_list("t1"))
    write("train", 2, [])
    write("validation", 3, one_list("v1"))
    fs.write_bytes(night.artifacts.feature_stats(rd), json.dumps(
        {"names": names, "mean": [0.0] * 4, "std": [1.0] * 4, "label_days": 1}).encode())
    files = night.artifacts.shards(night.artifacts.examples(rd, "train"))
    assert (len(files), len(with_rows(files))) == (3, 1)

    result = stages.runner("train")(night)

    assert (result["size"], night.summary["train"]["ranks"]) == (1, 1)
    assert [h["epoch"] for h in result["history"]] == [0, 1, 2]  # the start, then one epoch per phase
    assert fs.exists(fs.join(night.artifacts.model_dir(rd), "training.json"))
