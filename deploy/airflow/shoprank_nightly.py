"""Airflow 3 DAG: the shoprank night, one SparkSubmitOperator per stage (jobs/<stage>.py).

The Spark master comes from an Airflow connection (`SHOPRANK_SPARK_CONN`, default
`shoprank_spark`, type `spark`): host `local[2]`, `spark://host:7077`, `yarn` or
`k8s://https://host:443`, deploy mode in its extras. For example:

    AIRFLOW_CONN_SHOPRANK_SPARK='{"conn_type": "spark", "host": "spark://master:7077"}'

`spark-submit` must be on the PATH of the Airflow worker (the provider's rule; the
shoprank venv's `bin/` holds one). Settings, from the environment with defaults for a
local install:
- SHOPRANK_HOME: checkout of this repository (default: two levels above this file)
- SHOPRANK_WORKDIR: where the driver resolves relative paths in the config (`--workdir`;
  default: SHOPRANK_HOME; empty in cluster deploy mode, where the driver runs elsewhere)
- SHOPRANK_CONF: config file (default: conf/local.toml)
- SHOPRANK_PYTHON: the Python of the driver and executors (default: $SHOPRANK_HOME/.venv/bin/python)
- SHOPRANK_PY_FILES, SHOPRANK_ARCHIVES: spark-submit's --py-files and --archives on a cluster
  (`make package` builds dist/shoprank.zip; a venv-pack archive ships the environment)
- SHOPRANK_SPARK_CONF: a JSON object of extra Spark settings (e.g. spark.pyspark.python
  pointing into the unpacked archive)
- SHOPRANK_ARGS: extra shoprank arguments, e.g. "--set storage.warehouse=s3a://shop/wh"
- SHOPRANK_RETRIES: task retries (default 2)
- SHOPRANK_TASK_TIMEOUT_S: a stage task's time limit in seconds (default 21600, 6 h; above
  `train.run_timeout_s`, 4 h, so a stuck training rank ends inside `train` with its own
  error first): Airflow then kills its spark-submit and fails (or retries) the task

The schedule fires at 02:30 UTC for the day that has just ended: the run date is the
logical date (the firing time under Airflow 3's cron timetable) minus one day. Every task
passes it as --run-date with a per-DAG-run --run-version, so a retried task replaces its
run-date partitions and skips commits that already landed. A non-zero exit (gate breach,
reconciliation failure, ...) fails the task and stops the downstream stages.
"""

from __future__ import annotations

import json
import os
import shlex
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG

STAGES = ["ingest", "gate", "embeddings", "features", "examples", "candidates", "train", "score", "evaluate"]
HOME = Path(os.environ.get("SHOPRANK_HOME", str(Path(__file__).resolve().parents[2])))
CONF = os.environ.get("SHOPRANK_CONF", "conf/local.toml")
CONN = os.environ.get("SHOPRANK_SPARK_CONN", "shoprank_spark")
PYTHON = os.environ.get("SHOPRANK_PYTHON", str(HOME / ".venv" / "bin" / "python"))
WORKDIR = os.environ.get("SHOPRANK_WORKDIR", str(HOME))
EXTRA = shlex.split(os.environ.get("SHOPRANK_ARGS", ""))
RETRIES = int(os.environ.get("SHOPRANK_RETRIES", "2"))
TASK_TIMEOUT = timedelta(seconds=int(os.environ.get("SHOPRANK_TASK_TIMEOUT_S", "21600")))
SPARK_CONF = {"spark.pyspark.python": PYTHON, "spark.pyspark.driver.python": PYTHON,
              "spark.executorEnv.TF_CPP_MIN_LOG_LEVEL": "2", **json.loads(os.environ.get("SHOPRANK_SPARK_CONF", "{}"))}


def _under_home(paths: str) -> str | None:
    """Comma-separated local paths made absolute against the checkout (URIs unchanged)."""
    if not paths:
        return None
    return ",".join(p if "://" in p or p.startswith("/") else str(HOME / p) for p in paths.split(","))


# The day that has just ended; dag_run.start_date is fixed for a DAG run, so its retries
# share the version.
RUN_DATE = "{{ macros.ds_add((logical_date or dag_run.run_after) | ds, -1) }}"
RUN_VERSION = "{{ (dag_run.start_date.timestamp() | int) if dag_run.start_date else 1 }}"

with DAG(
    dag_id="shoprank_nightly",
    description="shoprank: ingest -> gate -> embeddings -> features -> examples -> candidates -> train -> score -> evaluate",
    schedule="30 2 * * *",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=5), "execution_timeout": TASK_TIMEOUT},
    tags=["shoprank"],
) as dag:
    tasks = [
        SparkSubmitOperator(
            task_id=stage, conn_id=CONN, application=str(HOME / "jobs" / f"{stage}.py"), name=f"shoprank-{stage}",
            application_args=[*(["--workdir", WORKDIR] if WORKDIR else []), "--conf", CONF,
                              "--run-date", RUN_DATE, "--run-version", RUN_VERSION, *EXTRA],
            conf=SPARK_CONF, py_files=_under_home(os.environ.get("SHOPRANK_PY_FILES", "")),
            archives=_under_home(os.environ.get("SHOPRANK_ARCHIVES", "")))
        for stage in STAGES
    ]
    for upstream, downstream in zip(tasks, tasks[1:], strict=False):
        upstream >> downstream
