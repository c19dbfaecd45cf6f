"""The Airflow 3 DAG, run for real by Airflow (`airflow dags test`): every stage task is a
SparkSubmitOperator that submits its job on a tiny generated dataset and must succeed,
publishing the night before the one the schedule fired on; a task past its time limit
fails and leaves no Spark process behind."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from shoprank.config import load_config
from shoprank.generate import generate

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = ROOT / ".venv-airflow" / "bin" / "airflow"
STAGES = ["ingest", "gate", "embeddings", "features", "examples", "candidates", "train", "score", "evaluate"]

pytestmark = pytest.mark.slow


def test_nightly_dag_runs_every_stage(tmp_path):
    if not AIRFLOW.exists():
        pytest.skip("Airflow venv missing: `make test` installs it (deploy/setup_airflow.sh)")
    run_date = dt.date(2026, 11, 21)
    sets = {"storage.warehouse": tmp_path / "wh", "storage.artifacts": tmp_path / "artifacts",
            "input.actions_path": tmp_path / "data" / "actions", "input.items_path": tmp_path / "data" / "items",
            "generate.users": 300, "generate.items": 150, "train.epochs": 1, "examples.windows": 1,
            # The orchestration is under test: four recall sources keep the night short.
            "candidates.sources": '["covisit", "ease", "popular", "content"]'}
    overrides = [f"{k}={v}" for k, v in sets.items()]
    cfg = load_config(ROOT / "conf" / "local.toml", overrides)
    generate(cfg.generate, cfg.input.actions_path, cfg.input.items_path, run_date)

    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "shoprank_nightly.py").symlink_to(ROOT / "deploy" / "airflow" / "shoprank_nightly.py")
    bin_dir = Path(sys.executable).parent  # spark-submit: on the worker's PATH, as the provider requires
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"), "SHOPRANK_HOME": str(ROOT),
           "SHOPRANK_PYTHON": sys.executable, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
           "AIRFLOW_CONN_SHOPRANK_SPARK": json.dumps({"conn_type": "spark", "host": "local[2]"}),
           "SHOPRANK_RETRIES": "0", "SHOPRANK_ARGS": " ".join(f"--set {shlex.quote(o)}" for o in overrides)}

    def airflow(*args: str, timeout: int = 600, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(AIRFLOW), *args], env=env | extra, capture_output=True, text=True, timeout=timeout)

    def rows(*args: str) -> list[dict]:  # `-o json` prints one JSON line after any warnings
        out = airflow(*args, "-o", "json").stdout
        return json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("[")))

    assert airflow("db", "migrate").returncode == 0
    parsed = airflow("dags", "reserialize")
    assert parsed.returncode == 0, parsed.stdout[-2000:] + parsed.stderr[-2000:]
    assert [d["dag_id"] for d in rows("dags", "list")] == ["shoprank_nightly"]
    # Fired at 02:30 on the 22nd: the night of the 21st, the day that has just ended.
    fired = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(2, 30), dt.UTC)
    proc = airflow("dags", "test", "shoprank_nightly", fired.isoformat(), timeout=1800)
    log = proc.stdout + proc.stderr
    [run] = rows("dags", "list-runs", "shoprank_nightly")
    states = {t["task_id"]: t["state"] for t in rows("tasks", "states-for-dag-run", "shoprank_nightly", run["run_id"])}
    assert states == dict.fromkeys(STAGES, "success"), log[-4000:]
    assert run["state"] == "success"
    assert f"--run-date {run_date.isoformat()} " in log
    published = DeltaTable(str(tmp_path / "wh" / "recommendations")).to_pyarrow_table(columns=["run_date"])
    assert set(published.column("run_date").to_pylist()) == {run_date}
    assert (tmp_path / "wh" / "metrics" / "_delta_log").is_dir()

    # A stage past its time limit (SHOPRANK_TASK_TIMEOUT_S): Airflow fails the task and
    # kills its spark-submit, so a stuck night frees the machine and the next night's slot.
    proc = airflow("tasks", "test", "shoprank_nightly", "ingest", fired.isoformat(), SHOPRANK_TASK_TIMEOUT_S="3")
    log = proc.stdout + proc.stderr
    assert "AirflowTaskTimeout" in log and "Sending kill signal to spark-submit" in log, log[-4000:]
    for _ in range(30):  # the killed JVM may take a moment to go
        left = subprocess.run(["pgrep", "-af", str(tmp_path / "wh")], capture_output=True, text=True).stdout
        if not left:
            break
        time.sleep(1)
    assert left == "", left
