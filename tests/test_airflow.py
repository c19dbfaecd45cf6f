"""The Airflow 3 DAG's time limit, run for real by Airflow (`airflow tasks test`) on a
`local[2]` connection: a stage past `SHOPRANK_TASK_TIMEOUT_S` fails and leaves no Spark
process behind. The whole night under the DAG runs on a standalone cluster in
tests/test_standalone.py."""

from __future__ import annotations

import datetime as dt
import subprocess
import time

import pytest

from shoprank.config import load_config
from shoprank.generate import generate

from .airflow_home import ROOT, AirflowHome

pytestmark = pytest.mark.slow


def test_a_stage_past_its_time_limit_fails_and_leaves_no_spark_process(tmp_path):
    run_date = dt.date(2026, 11, 21)
    sets = {"storage.warehouse": tmp_path / "wh", "storage.artifacts": tmp_path / "artifacts",
            "input.actions_path": tmp_path / "data" / "actions", "input.items_path": tmp_path / "data" / "items",
            "generate.users": 300, "generate.items": 150}
    overrides = [f"{k}={v}" for k, v in sets.items()]
    cfg = load_config(ROOT / "conf" / "local.toml", overrides)
    generate(cfg.generate, cfg.input.actions_path, cfg.input.items_path, run_date)
    airflow = AirflowHome(tmp_path / "airflow", "local[2]", overrides)
    fired = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(2, 30), dt.UTC).isoformat()

    # Airflow fails the task and kills its spark-submit, so a stuck night frees the
    # machine and the next night's slot.
    proc = airflow("tasks", "test", "shoprank_nightly", "ingest", fired, SHOPRANK_TASK_TIMEOUT_S="3")
    log = proc.stdout + proc.stderr
    assert "AirflowTaskTimeout" in log and "Sending kill signal to spark-submit" in log, log[-4000:]
    for _ in range(30):  # the killed JVM may take a moment to go
        left = subprocess.run(["pgrep", "-af", str(tmp_path / "wh")], capture_output=True, text=True).stdout
        if not left:
            break
        time.sleep(1)
    assert left == "", left
