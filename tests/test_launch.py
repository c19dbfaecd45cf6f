"""Launching the Horovod ranks on Spark tasks (`ml.train.horovod_run`), for real on the
session's two local slots: the Gloo timeout reaches every rank, and a job asking for more
ranks than Spark can start fails within `start_timeout_s` with a typed error."""

from __future__ import annotations

import pytest

from shoprank.errors import TrainingError
from shoprank.ml.train import horovod_run

pytestmark = pytest.mark.slow


def _rank_facts():
    import os

    import horovod.tensorflow as hvd
    import tensorflow as tf

    hvd.init()
    total = int(hvd.allreduce(tf.constant(hvd.rank() + 1), op=hvd.Sum).numpy())
    return hvd.rank(), hvd.size(), total, os.environ["HOROVOD_GLOO_TIMEOUT_SECONDS"]


def test_every_rank_runs_with_the_configured_gloo_timeout(spark):
    facts = horovod_run(spark, _rank_facts, (), num_proc=2, start_timeout_s=120, gloo_timeout_s=45)
    assert sorted(facts) == [(0, 2, 3, "45"), (1, 2, 3, "45")]


# Horovod's own Spark thread raises when its cancelled job ends: expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_more_ranks_than_task_slots_fail_after_the_start_timeout(spark):
    with pytest.raises(TrainingError, match=r"expected 3 ranks to start within 5 s .* found 2 Spark task slots"):
        horovod_run(spark, _rank_facts, (), num_proc=3, start_timeout_s=5, gloo_timeout_s=30)
    # The session survives: the waiting tasks were cancelled.
    assert spark.range(10).count() == 10
