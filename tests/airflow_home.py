"""An Airflow 3 home for the tests: the shoprank DAG in its DAGs folder, a fresh metadata
database, and the `airflow` CLI run with the shoprank settings (`deploy/airflow/shoprank_nightly.py`)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = ROOT / ".venv-airflow" / "bin" / "airflow"


class AirflowHome:
    def __init__(self, home: Path, master: str, overrides: list[str], **settings: str):
        if not AIRFLOW.exists():
            pytest.skip("Airflow venv missing: `make test` installs it (deploy/setup_airflow.sh)")
        (home / "dags").mkdir(parents=True)
        (home / "dags" / "shoprank_nightly.py").symlink_to(ROOT / "deploy" / "airflow" / "shoprank_nightly.py")
        bin_dir = Path(sys.executable).parent  # spark-submit: on the worker's PATH, as the provider requires
        self.env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"), "SHOPRANK_HOME": str(ROOT),
                    "SHOPRANK_PYTHON": sys.executable, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                    "AIRFLOW_CONN_SHOPRANK_SPARK": json.dumps({"conn_type": "spark", "host": master}),
                    "SHOPRANK_RETRIES": "0", "SHOPRANK_ARGS": " ".join(f"--set {shlex.quote(o)}" for o in overrides),
                    **settings}
        assert self("db", "migrate").returncode == 0
        parsed = self("dags", "reserialize")
        assert parsed.returncode == 0, parsed.stdout[-2000:] + parsed.stderr[-2000:]
        assert [d["dag_id"] for d in self.rows("dags", "list")] == ["shoprank_nightly"]

    def __call__(self, *args: str, timeout: int = 600, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(AIRFLOW), *args], env=self.env | extra, capture_output=True, text=True,
                              timeout=timeout)

    def rows(self, *args: str) -> list[dict]:
        """A listing command's rows (`-o json` prints one JSON line after any warnings)."""
        out = self(*args, "-o", "json").stdout
        return json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("[")))

    def night(self, fired: str, timeout: int = 1800) -> tuple[dict, dict, str]:
        """`airflow dags test` of one firing: the DAG run, its task states and the log."""
        proc = self("dags", "test", "shoprank_nightly", fired, timeout=timeout)
        [run] = self.rows("dags", "list-runs", "shoprank_nightly")
        states = {t["task_id"]: t["state"]
                  for t in self.rows("tasks", "states-for-dag-run", "shoprank_nightly", run["run_id"])}
        return run, states, proc.stdout + proc.stderr
