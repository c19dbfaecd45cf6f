"""SparkSession construction. Called by jobs and tests; never at import time."""

from __future__ import annotations

import logging
import os
import sys

from pyspark.sql import SparkSession

from shoprank.config import SparkConf

log = logging.getLogger(__name__)

DEFAULTS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    # Lets AQE coalesce the shuffle under a cached frame too: small cached frames
    # (items, per-user-day counts) otherwise keep every shuffle partition, and each
    # read of them runs that many near-empty tasks.
    "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
    "spark.ui.showConsoleProgress": "false",
    # Delta readers expect INT64 microsecond timestamps, not Spark's legacy INT96.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.ui.enabled": "false",
    # Horovod's Spark runner (barrier tasks) and mapInArrow writers both rely on
    # the executors running the same interpreter as the driver in local mode.
    "spark.python.worker.reuse": "true",
}

# In local mode the driver JVM runs every task. On a few cores G1's concurrent
# threads and write barriers take CPU from the tasks; the throughput collector
# does not (bench-etl at 10M rows: 78 s against 85 s with G1). Applies only when
# this process starts the JVM; spark-submit sets its own options.
LOCAL_DEFAULTS = {
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
}


def build_session(conf: SparkConf) -> SparkSession:
    # Executors must run the interpreter that has our stack (the venv's).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(conf.app_name)
    if conf.master:
        builder = builder.master(conf.master)
    settings = dict(DEFAULTS)
    if (conf.master or "").startswith("local"):
        settings.update(LOCAL_DEFAULTS)
    settings["spark.sql.shuffle.partitions"] = str(conf.shuffle_partitions)
    settings.update(conf.conf)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    log.info("spark %s session: master=%s", spark.version, spark.sparkContext.master)
    return spark
