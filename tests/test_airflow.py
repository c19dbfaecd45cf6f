"""The Airflow DAG, run for real by Airflow (`airflow dags test`): every stage task
spark-submits its job on a tiny generated dataset and must succeed."""

from __future__ import annotations

import datetime as dt
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

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
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"), "SHOPRANK_HOME": str(ROOT),
           "SHOPRANK_PYTHON": sys.executable, "SHOPRANK_SPARK_SUBMIT": str(Path(sys.executable).parent / "spark-submit"),
           "SHOPRANK_RETRIES": "0", "SHOPRANK_ARGS": " ".join(f"--set {shlex.quote(o)}" for o in overrides)}
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    errors = subprocess.run([str(AIRFLOW), "dags", "list-import-errors"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert "shoprank_nightly" not in errors.stdout, errors.stdout
    proc = subprocess.run([str(AIRFLOW), "dags", "test", "shoprank_nightly", run_date.isoformat()], env=env,
                          capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    succeeded = {s for s in STAGES if f"task_id={s}, run_id" in log and
                 any(f"SUCCESS. dag_id=shoprank_nightly, task_id={s}," in line for line in log.splitlines())}
    assert succeeded == set(STAGES), log[-4000:]
    assert (tmp_path / "wh" / "recommendations" / "_delta_log").is_dir()
    assert (tmp_path / "wh" / "metrics" / "_delta_log").is_dir()
