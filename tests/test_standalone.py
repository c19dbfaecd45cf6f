"""The night on a Spark standalone cluster (a master and a worker started with
`deploy/standalone.sh`), the way a shop without Kubernetes runs it: the library as
`--py-files` (`make package`), the Python environment as a venv-pack archive in
`--archives` (`deploy/pack_env.sh`), which the executors unpack and run, the Horovod ranks
included. Submitted twice: with `spark-submit`, and by Airflow running the nightly DAG."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from shoprank.stages import NIGHTLY as STAGES
from shoprank.storage import fs

from .airflow_home import AirflowHome

ROOT = Path(__file__).resolve().parents[1]
RUN_DATE = dt.date(2026, 11, 21)
# The archive (1.1 GB), its copies unpacked by the executor and, for the run, the driver (3.2 GB each).
NEED_GB = 10
# The worker deletes a finished application's directory after this long: a night of the
# DAG (one application per stage, a minute or more each) must not pile up nine copies.
CLEANUP_TTL_S = 90

pytestmark = pytest.mark.slow


@dataclasses.dataclass(frozen=True)
class Cluster:
    url: str
    archive: Path
    work: Path  # the worker's directory: one subdirectory per application
    env: dict
    data: Path  # the generated shop's input files


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _run(cmd: list[str], env: dict, cwd: Path | str = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd[:3])} ... exited {proc.returncode}:\n" + (proc.stdout + proc.stderr)[-4000:]
    return proc


def _sets(tmp: Path, data: Path) -> list[str]:
    return [f"input.actions_path={data}/actions", f"input.items_path={data}/items",
            f"storage.warehouse=file://{tmp}/warehouse", f"storage.artifacts=file://{tmp}/artifacts",
            "generate.users=300", "generate.items=150", "train.epochs=1", "examples.windows=1",
            'candidates.sources=["covisit", "ease", "popular", "content"]',
            "spark.master="]  # spark-submit's --master (the DAG's Spark connection) decides


def _apps(work: Path) -> dict[str, str]:
    """Applications the worker launched executors for, id -> name, in order (from its log)."""
    log = (work.parent / "worker.log").read_text()
    return dict(re.findall(r"Asked to launch executor (app-[\d-]+)/\d+ for (.+)", log))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("standalone")
    free_gb = shutil.disk_usage(tmp).free / 2**30
    if free_gb < NEED_GB:
        pytest.skip(f"a packed environment needs about {NEED_GB} GB free on {tmp}; found {free_gb:.1f} GB")
    master, master_ui, worker_ui = _free_ports(3)
    env = {**os.environ, "SPARK_STANDALONE_DIR": str(tmp / "cluster"), "SPARK_MASTER_PORT": str(master),
           "SPARK_MASTER_WEBUI_PORT": str(master_ui), "SPARK_WORKER_WEBUI_PORT": str(worker_ui),
           "SPARK_WORKER_CORES": "2", "SPARK_WORKER_MEMORY": "6g",
           "SPARK_WORKER_CLEANUP_TTL_S": str(CLEANUP_TTL_S), "SPARK_WORKER_CLEANUP_INTERVAL_S": "15"}
    archive = tmp / "env.tar.gz"
    _run(["bash", "deploy/pack_env.sh", str(archive)], env)
    _run(["make", "-s", "package"], env)
    _run([sys.executable, "-m", "shoprank.cli", "generate", "--conf", str(ROOT / "conf" / "local.toml"),
          "--run-date", RUN_DATE.isoformat(), *[a for s in _sets(tmp, tmp / "data") for a in ("--set", s)]], env)
    url = _run(["bash", "deploy/standalone.sh", "start"], env, timeout=300).stdout.split()[-1]
    work = tmp / "cluster" / "work"
    try:
        yield Cluster(url, archive, work, env, tmp / "data")
    finally:
        subprocess.run(["bash", "deploy/standalone.sh", "stop"], cwd=ROOT, env=env, timeout=60)
        archive.unlink(missing_ok=True)
    left = list(work.iterdir())
    assert left and not list(work.glob("*/*/environment"))  # `stop` dropped the unpacked copies,
    assert list(work.glob("*/*/stderr"))  # and kept the logs of applications the TTL had spared


def _published(tmp: Path) -> set[dt.date]:
    table = DeltaTable(str(tmp / "warehouse" / "recommendations")).to_pyarrow_table(columns=["run_date"])
    return set(table.column("run_date").to_pylist())


def test_night_with_spark_submit(cluster, tmp_path):
    before = _apps(cluster.work)
    driver = tmp_path / "driver"
    driver.mkdir()
    submit = {**cluster.env, "PYSPARK_DRIVER_PYTHON": sys.executable, "PYSPARK_PYTHON": "./environment/bin/python"}
    submit.pop("SPARK_HOME", None)
    args = [a for s in _sets(tmp_path, cluster.data) for a in ("--set", s)]
    _run([str(Path(sys.executable).parent / "spark-submit"), "--master", cluster.url,
          "--py-files", str(ROOT / "dist" / "shoprank.zip"), "--archives", f"{cluster.archive}#environment",
          "--conf", "spark.executor.memory=4g", "--conf", "spark.executorEnv.TF_CPP_MIN_LOG_LEVEL=2",
          str(ROOT / "jobs" / "nightly.py"), "--conf", str(ROOT / "conf" / "local.toml"),
          "--run-date", RUN_DATE.isoformat(), "--run-version", "1", *args], submit, cwd=driver, timeout=1800)
    # The worker's executor unpacked the environment and ran its Python (the driver's
    # interpreter is not ./environment/bin/python: no task could have started otherwise).
    [(app_id, name)] = [(a, n) for a, n in _apps(cluster.work).items() if a not in before]
    assert name == f"shoprank-local nightly {RUN_DATE}"
    app = cluster.work / app_id
    assert [(e / "environment" / "bin" / "python").exists() for e in app.iterdir()] == [True]
    day = RUN_DATE.isoformat()
    meta = json.loads(fs.read_bytes(f"file://{tmp_path}/artifacts/models/{day}/training.json"))
    assert meta["size"] == 2  # two Horovod ranks on the worker's executor
    assert _published(tmp_path) == {RUN_DATE}
    assert list(driver.iterdir()) == []  # nothing landed in the driver's working directory


def test_nightly_dag_on_the_cluster(cluster, tmp_path):
    before = _apps(cluster.work)
    airflow = AirflowHome(tmp_path / "airflow", cluster.url, _sets(tmp_path, cluster.data),
                          SHOPRANK_PY_FILES="dist/shoprank.zip", SHOPRANK_ARCHIVES=f"{cluster.archive}#environment",
                          SHOPRANK_SPARK_CONF=json.dumps({"spark.pyspark.python": "./environment/bin/python",
                                                          "spark.executor.memory": "4g"}))
    # Fired at 02:30 on the 22nd: the night of the 21st, the day that has just ended.
    fired = dt.datetime.combine(RUN_DATE + dt.timedelta(days=1), dt.time(2, 30), dt.UTC)
    run, states, log = airflow.night(fired.isoformat())
    assert states == dict.fromkeys(STAGES, "success"), log[-4000:]
    assert run["state"] == "success"
    assert f"--run-date {RUN_DATE.isoformat()} " in log
    assert _published(tmp_path) == {RUN_DATE}
    assert (tmp_path / "warehouse" / "metrics" / "_delta_log").is_dir()
    # Every stage ran as its own application on the worker, from the unpacked environment;
    # the worker deleted the directories of those finished more than the TTL ago.
    launched = _apps(cluster.work)
    apps = [app for app in launched if app not in before]
    assert [launched[app] for app in apps] == [f"shoprank-local {stage} {RUN_DATE}" for stage in STAGES]
    assert (cluster.work / apps[-1]).is_dir() and list((cluster.work / apps[-1]).glob("*/environment/bin/python"))
    assert not (cluster.work / apps[0]).exists()
