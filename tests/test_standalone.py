"""The night submitted with `spark-submit` to a Spark standalone cluster (a master and a
worker started with `deploy/standalone.sh`), the way a shop without Kubernetes runs it:
the library as `--py-files` (`make package`), the Python environment as a venv-pack
archive in `--archives` (`deploy/pack_env.sh`), which the executors unpack and run, the
Horovod ranks included."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from shoprank.storage import fs

ROOT = Path(__file__).resolve().parents[1]
RUN_DATE = dt.date(2026, 11, 21)
# The archive (1.5 GB), its copies unpacked by the executor and, for the run, the driver (3.8 GB each).
NEED_GB = 10

pytestmark = pytest.mark.slow


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


def test_night_on_a_standalone_cluster_with_a_packed_environment(tmp_path):
    free_gb = shutil.disk_usage(tmp_path).free / 2**30
    if free_gb < NEED_GB:
        pytest.skip(f"a packed environment needs about {NEED_GB} GB free on {tmp_path}; found {free_gb:.1f} GB")
    master, master_ui, worker_ui = _free_ports(3)
    env = {**os.environ, "SPARK_STANDALONE_DIR": str(tmp_path / "cluster"), "SPARK_MASTER_PORT": str(master),
           "SPARK_MASTER_WEBUI_PORT": str(master_ui), "SPARK_WORKER_WEBUI_PORT": str(worker_ui),
           "SPARK_WORKER_CORES": "2", "SPARK_WORKER_MEMORY": "6g"}
    archive = tmp_path / "env.tar.gz"
    _run(["bash", "deploy/pack_env.sh", str(archive)], env)
    _run(["make", "-s", "package"], env)
    sets = [f"input.actions_path={tmp_path}/data/actions", f"input.items_path={tmp_path}/data/items",
            f"storage.warehouse=file://{tmp_path}/warehouse", f"storage.artifacts=file://{tmp_path}/artifacts",
            "generate.users=300", "generate.items=150", "train.epochs=1", "examples.windows=1",
            'candidates.sources=["covisit", "ease", "popular", "content"]',
            "spark.master="]  # spark-submit's --master decides
    args = [a for s in sets for a in ("--set", s)]
    conf = str(ROOT / "conf" / "local.toml")
    _run([sys.executable, "-m", "shoprank.cli", "generate", "--conf", conf, "--run-date", RUN_DATE.isoformat(),
          *args], env)
    url = _run(["bash", "deploy/standalone.sh", "start"], env, timeout=300).stdout.split()[-1]
    driver = tmp_path / "driver"
    driver.mkdir()
    try:
        submit = {**env, "PYSPARK_DRIVER_PYTHON": sys.executable, "PYSPARK_PYTHON": "./environment/bin/python"}
        submit.pop("SPARK_HOME", None)
        _run([str(Path(sys.executable).parent / "spark-submit"), "--master", url,
              "--py-files", str(ROOT / "dist" / "shoprank.zip"), "--archives", f"{archive}#environment",
              "--conf", "spark.executor.memory=4g", "--conf", "spark.executorEnv.TF_CPP_MIN_LOG_LEVEL=2",
              str(ROOT / "jobs" / "nightly.py"), "--conf", conf, "--run-date", RUN_DATE.isoformat(),
              "--run-version", "1", *args], submit, cwd=driver, timeout=1800)
        # The worker's executor unpacked the environment and ran its Python (the driver's
        # interpreter is not ./environment/bin/python: no task could have started otherwise).
        [app] = (tmp_path / "cluster" / "work").iterdir()
        assert [(e / "environment" / "bin" / "python").exists() for e in app.iterdir()] == [True]
    finally:
        subprocess.run(["bash", "deploy/standalone.sh", "stop"], cwd=ROOT, env=env, timeout=60)
        archive.unlink(missing_ok=True)
    assert not list(app.glob("*/environment"))  # `stop` dropped the unpacked copy, kept the logs
    assert list(app.glob("*/stderr"))
    day = RUN_DATE.isoformat()
    meta = json.loads(fs.read_bytes(f"file://{tmp_path}/artifacts/models/{day}/training.json"))
    assert meta["size"] == 2  # two Horovod ranks on the worker's executor
    published = DeltaTable(str(tmp_path / "warehouse" / "recommendations")).to_pyarrow_table(columns=["run_date"])
    assert published.num_rows > 0 and set(published.column("run_date").to_pylist()) == {RUN_DATE}
    assert list(driver.iterdir()) == []  # nothing landed in the driver's working directory
