"""The whole night with executors in their own processes and working directories
(`local-cluster`): every artifact (shards, checkpoints, model, report) is found by
location through the stores, never through the driver's working directory."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shoprank.storage import fs

ROOT = Path(__file__).resolve().parents[1]
RUN_DATE = dt.date(2026, 11, 21)

pytestmark = pytest.mark.slow


def test_night_on_local_cluster_finds_every_artifact(tmp_path):
    driver_cwd = tmp_path / "driver"
    driver_cwd.mkdir()
    sets = [f"input.actions_path={tmp_path}/data/actions", f"input.items_path={tmp_path}/data/items",
            f"storage.warehouse=file://{tmp_path}/warehouse", f"storage.artifacts=file://{tmp_path}/artifacts",
            "generate.users=300", "generate.items=150", "train.epochs=1", "examples.windows=1",
            'candidates.sources=["covisit", "ease", "popular", "content"]',  # where artifacts go is under test
            "spark.master=local-cluster[2,1,2048]", "spark.conf.spark.executor.memory=1536m"]
    args = [a for s in sets for a in ("--set", s)]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    conf = str(ROOT / "conf" / "local.toml")
    for command in ("generate", "nightly"):
        proc = subprocess.run([sys.executable, "-m", "shoprank.cli", command, "--conf", conf, "--run-date",
                               RUN_DATE.isoformat(), *args], cwd=driver_cwd, env=env, capture_output=True,
                              text=True, timeout=1500)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    # Two executor processes, each in its own working directory (local-cluster puts
    # them under $SPARK_HOME/work/<application>/<executor>).
    import pyspark

    app = re.search(r"application (app-[\w-]+)", proc.stderr).group(1)
    executors = Path(pyspark.__file__).parent / "work" / app
    try:
        assert sorted(p.name for p in executors.iterdir()) == ["0", "1"]
        assert all((executors / e / "stderr").stat().st_size > 0 for e in ("0", "1"))
    finally:
        shutil.rmtree(executors, ignore_errors=True)
    artifacts = f"file://{tmp_path}/artifacts"
    day = RUN_DATE.isoformat()
    assert fs.list_files(f"{artifacts}/examples/{day}/train", ".parquet")
    assert fs.list_files(f"{artifacts}/models/{day}/checkpoints", ".h5")
    meta = json.loads(fs.read_bytes(f"{artifacts}/models/{day}/training.json"))
    assert meta["size"] == 2 and fs.exists(f"{artifacts}/models/{day}/model.keras")
    assert fs.exists(f"{artifacts}/reports/{day}/report.html")
    assert (tmp_path / "warehouse" / "recommendations" / "_delta_log").is_dir()
    assert list(driver_cwd.iterdir()) == []  # nothing landed in the driver's working directory
