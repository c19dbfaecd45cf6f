"""Does `horovod.spark.run_elastic` survive a lost rank with this machine's Horovod build?

Two ranks on `local[2,3]` (a failed task is retried) train a toy TensorFlow state for five
epochs, committing it after each (`hvd.elastic.TensorFlowState`, `@hvd.elastic.run`);
rank 1 fails once at the start of epoch 2 (`--how raise`: an exception, as Horovod's own
fault-tolerance test does; `exit`: the process dies). Elastic Horovod should reset the
surviving rank, rejoin the retried task and finish from the last commit. The probe runs
in a child process and prints `elastic recovered in N s` or `elastic did not recover
within N s`; shoprank's training stays on `horovod.spark.run` while this says the latter
(README, "Training at scale").

    PYTHONPATH=lib python bench/elastic_probe.py --how raise --timeout 240
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time

log = logging.getLogger("elastic_probe")


def rank_fn(flags: str, how: str):
    import horovod.tensorflow as hvd
    import tensorflow as tf

    hvd.init()
    weights = tf.Variable([0.0, 0.0])
    state = hvd.elastic.TensorFlowState(variables=[weights], epoch=0, resets=0)

    @hvd.elastic.run
    def train(state):
        state.resets += 1
        while state.epoch < 5:
            flag = os.path.join(flags, f"rank{hvd.rank()}_epoch{state.epoch}")
            if os.path.exists(flag):
                os.unlink(flag)
                if how == "exit":
                    os._exit(3)
                raise RuntimeError("injected failure")
            weights.assign_add(hvd.allreduce(tf.ones(2), op=hvd.Sum))
            state.epoch += 1
            state.commit()
        return hvd.rank(), hvd.size(), state.resets, weights.numpy().tolist()

    return train(state)


def child(how: str) -> None:
    import horovod.spark
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.master("local[2,3]").appName("elastic_probe").getOrCreate()
    flags = tempfile.mkdtemp(prefix="elastic_probe_")
    open(os.path.join(flags, "rank1_epoch2"), "w").close()
    res = horovod.spark.run_elastic(rank_fn, args=(flags, how), num_proc=2, min_num_proc=2, max_num_proc=2,
                                    start_timeout=60, elastic_timeout=60,
                                    env={**os.environ, "HOROVOD_GLOO_TIMEOUT_SECONDS": "20"}, verbose=1)
    log.info("ranks returned (rank, size, resets, weights): %s", res)
    spark.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--how", choices=("raise", "exit"), default="raise")
    ap.add_argument("--timeout", type=int, default=240)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if a.child:
        child(a.how)
        return
    began = time.monotonic()
    # A new session, so the whole tree (Spark's JVM, the ranks) ends with the child.
    proc = subprocess.Popen([sys.executable, __file__, "--child", "--how", a.how], start_new_session=True)
    try:
        rc = proc.wait(a.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        print(f"elastic did not recover within {a.timeout} s (rank 1 failed once by '{a.how}')")
        sys.exit(1)
    seconds = time.monotonic() - began
    print(f"elastic recovered in {seconds:.0f} s" if rc == 0 else f"elastic failed (exit {rc}) after {seconds:.0f} s")
    sys.exit(rc)


if __name__ == "__main__":
    main()
