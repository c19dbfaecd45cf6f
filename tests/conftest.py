"""One local SparkSession for the whole run; tiny inline data with production schemas."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def spark():
    from shoprank.config import SparkConf
    from shoprank.session import build_session

    # The driver JVM runs every task in local mode: the nights in the slow tests need more
    # than Spark's 1g default heap, as conf/local.toml gives the demo.
    session = build_session(SparkConf(master="local[2]", app_name="shoprank-tests", shuffle_partitions=2,
                                      conf={"spark.driver.memory": "4g"}))
    yield session
    session.stop()


@pytest.fixture
def store(spark, tmp_path):
    from shoprank.storage import TableStore

    return TableStore(spark, str(tmp_path / "warehouse"), "delta-rs")


def rows(df, *order):
    """Whole-DataFrame comparison helper: rows as sorted dicts."""
    return sorted((r.asDict(recursive=True) for r in df.collect()),
                  key=lambda d: tuple(str(d[k]) for k in (order or sorted(d))))
