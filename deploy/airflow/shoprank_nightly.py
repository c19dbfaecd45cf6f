"""Airflow DAG: the shoprank night, one task per stage, each a spark-submit of jobs/<stage>.py.

Variables (Airflow Variables or environment, with defaults for a local install):
- SHOPRANK_HOME: checkout of this repository (default: two levels above this file)
- SHOPRANK_CONF: config file (default: conf/local.toml)
- SHOPRANK_SPARK_SUBMIT: spark-submit to use (default: $SHOPRANK_HOME/.venv/bin/spark-submit)
- SHOPRANK_SUBMIT_ARGS: extra spark-submit arguments, e.g. "--master yarn --py-files dist/shoprank.zip"
- SHOPRANK_ARGS: extra shoprank arguments, e.g. "--set storage.warehouse=/data/wh"
- SHOPRANK_RETRIES: task retries (default 2)

Every task passes the DAG run's logical date as --run-date and a per-DAG-run
--run-version, so a retried task replaces its run-date partitions and skips
commits that already landed. A non-zero exit (gate breach, reconciliation
failure, ...) fails the task and stops the downstream stages.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow import DAG
from airflow.operators.bash import BashOperator

STAGES = ["ingest", "gate", "embeddings", "features", "examples", "candidates", "train", "score", "evaluate"]
HOME = os.environ.get("SHOPRANK_HOME", str(Path(__file__).resolve().parents[2]))
CONF = os.environ.get("SHOPRANK_CONF", "conf/local.toml")
SUBMIT = os.environ.get("SHOPRANK_SPARK_SUBMIT", f"{HOME}/.venv/bin/spark-submit")
SUBMIT_ARGS = os.environ.get("SHOPRANK_SUBMIT_ARGS", "--master local[2]")
PYTHON = os.environ.get("SHOPRANK_PYTHON", f"{HOME}/.venv/bin/python")
EXTRA = os.environ.get("SHOPRANK_ARGS", "")
RETRIES = int(os.environ.get("SHOPRANK_RETRIES", "2"))


def stage_command(stage: str) -> str:
    # dag_run.start_date is fixed for a DAG run, so its retries share the version.
    return (f"cd {HOME} && {SUBMIT} {SUBMIT_ARGS} jobs/{stage}.py --conf {CONF} "
            "--run-date {{ ds }} --run-version {{ (dag_run.start_date.timestamp() | int) if dag_run.start_date else 1 }} "
            f"{EXTRA}")


with DAG(
    dag_id="shoprank_nightly",
    description="shoprank: ingest -> gate -> embeddings -> features -> examples -> candidates -> train -> score -> evaluate",
    schedule="30 2 * * *",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=5)},
    tags=["shoprank"],
) as dag:
    env = {"PYSPARK_PYTHON": PYTHON, "PYSPARK_DRIVER_PYTHON": PYTHON, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "JAVA_HOME": os.environ.get("JAVA_HOME", "")}
    tasks = [BashOperator(task_id=s, bash_command=stage_command(s), env=env, append_env=True) for s in STAGES]
    for upstream, downstream in zip(tasks, tasks[1:], strict=False):
        upstream >> downstream
