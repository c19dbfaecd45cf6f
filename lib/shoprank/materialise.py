"""Named steps that compute a frame once and cut its lineage.

A night's recall runs eleven sources, each a plan of joins, windows and model fits; the
lists, features and scores built on them would otherwise carry every source's whole
plan (tens of MB of plan text, analysed and optimised again by every action, which
cost more than the work itself on small shops). `materialise` computes a frame once
into the executors' block stores (memory, spilling to disk) and returns a frame whose
plan is just those blocks; `release` frees them.

The blocks are not recomputed if an executor holding some is lost: the action fails
with CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND and the stage fails. Stages write idempotently,
so re-running it (Airflow's retry, or the same command) is the recovery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("shoprank")


def _checkpointed_rdd(df: DataFrame):
    plan = df._jdf.queryExecution().logical()  # noqa: SLF001 - the JVM plan: no public handle on the blocks
    if plan.getClass().getSimpleName() != "LogicalRDD":
        return None
    rdd = plan.rdd()
    return rdd if rdd.isCheckpointed() else None


def materialise(df: DataFrame) -> DataFrame:
    """`df` computed now (an action), as a frame with no lineage; a frame that is
    already materialised is returned as it is."""
    return df if _checkpointed_rdd(df) is not None else df.localCheckpoint(eager=True)


def release(df: DataFrame) -> None:
    """Free what `materialise` (or `cache`) kept of `df`; frames built on it can no
    longer be computed."""
    rdd = _checkpointed_rdd(df)
    if rdd is not None:
        rdd.unpersist(False)
    else:
        df.unpersist()


def materialise_all(spark: SparkSession, makers: dict[str, Callable[[], DataFrame]], workers: int,
                    what: str) -> dict[str, DataFrame]:
    """{name: maker() materialised}, up to `workers` at once from driver threads: a recall
    source is a chain of small jobs (planning on the driver, model fits in one task), so
    on their own most leave cores idle; Spark schedules concurrent jobs side by side. The
    result keeps the order of `makers`; the first failure is raised once all have ended.
    Each thread tags its jobs with the caller's description (threads do not inherit it)."""
    sc = spark.sparkContext
    description = sc.getLocalProperty("spark.job.description")

    def run(name: str) -> DataFrame:
        sc.setLocalProperty("spark.job.description", description)
        started = time.monotonic()
        frame = materialise(makers[name]())
        log.info("%s %s: %d rows in %.1fs", what, name, frame.count(), time.monotonic() - started)
        return frame

    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="materialise") as pool:
        futures = {name: pool.submit(run, name) for name in makers}
        wait(futures.values())
    errors = [f.exception() for f in futures.values()]
    if any(errors):
        for f, error in zip(futures.values(), errors, strict=True):
            if error is None:
                release(f.result())
        raise next(e for e in errors if e is not None)
    return {name: f.result() for name, f in futures.items()}
