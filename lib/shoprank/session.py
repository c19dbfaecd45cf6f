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
    # The JVM does not JIT-compile methods over 8,000 bytes of bytecode, and the code
    # Spark generates for ingest's parse-and-validate stage is about that size: one
    # column more made it run interpreted, 4x slower (bench-etl at 10M: 59 s -> 14 s
    # for that stage with this flag). Executors get it here; see LOCAL_DEFAULTS.
    "spark.executor.extraJavaOptions": "-XX:-DontCompileHugeMethods",
    # A night's plans nest many cached relations (eleven recall sources, features per
    # window); their text, kept for every execution, filled a 6g driver heap by the
    # fourth training window. Bound each plan's text and how many are kept.
    "spark.sql.maxPlanStringLength": "200000",
    "spark.sql.ui.retainedExecutions": "20",
}

# In local mode the driver JVM runs every task. On a few cores G1's concurrent
# threads and write barriers take CPU from the tasks; the throughput collector
# does not (bench-etl at 10M rows: 78 s against 85 s with G1). It also needs the
# huge-method flag above. Applies only when this process starts the JVM;
# spark-submit sets its own (pass the same --driver-java-options there).
LOCAL_DEFAULTS = {
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC -XX:-DontCompileHugeMethods",
}


# Warnings about what shoprank does on purpose, dozens per training window otherwise:
QUIET_LOGGERS = (
    # RePlay (the ALS and item-kNN baselines) puts broadcast hints on plans where Spark
    # cannot use them.
    "org.apache.spark.sql.catalyst.analysis.HintErrorLogger",
    # A plan's text cut at spark.sql.maxPlanStringLength (above).
    "org.apache.spark.sql.catalyst.util.StringUtils",
    # A locally checkpointed recall source unpersisted once the window is done.
    "org.apache.spark.rdd.MapPartitionsRDD",
)


def build_session(conf: SparkConf, task: str = "") -> SparkSession:
    """The session; `task` (e.g. "ingest 2026-11-21") follows the application name, so
    each of a night's applications is told apart in the Spark UI and the workers' logs."""
    # Executors must run the interpreter that has our stack (the venv's).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(f"{conf.app_name} {task}".strip())
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
    jvm = spark.sparkContext._jvm  # noqa: SLF001 - log4j has no Python binding
    for logger in QUIET_LOGGERS:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(logger, jvm.org.apache.logging.log4j.Level.ERROR)
    log.info("spark %s session: master=%s, application %s", spark.version, spark.sparkContext.master,
             spark.sparkContext.applicationId)
    return spark
