"""The two real datasets in ../shared/data through ingest with their shipped configs
(no code change). Skips with the reason when ../shared/data is not beside the repo."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from shoprank.config import load_config
from shoprank.night import Night
from shoprank.stages import ingest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name, run_date, expect_actions, expect_items", [
    ("taobao", dt.date(2017, 12, 3), 84_475, 55_368),
    ("movielens", dt.date(2018, 9, 24), 100_836, 9_742),
])
def test_real_dataset_ingests_and_reconciles(spark, tmp_path, name, run_date, expect_actions, expect_items):
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not found: the shared real datasets are not beside this checkout")
    cfg = load_config(ROOT / "conf" / f"{name}.toml", [
        f"storage.warehouse={tmp_path}/wh", f"storage.artifacts={tmp_path}/artifacts"])
    # Config paths are relative to the repository root.
    cfg = load_config(ROOT / "conf" / f"{name}.toml", [
        f"storage.warehouse={tmp_path}/wh", f"storage.artifacts={tmp_path}/artifacts",
        f"input.actions_path={ROOT / cfg.input.actions_path}", f"input.items_path={ROOT / cfg.input.items_path}"])
    night = Night.open(spark, cfg, run_date)
    store = night.tables
    counts = ingest.run(night)
    actions, items = counts["actions"], counts["items"]
    assert actions["input_rows"] == expect_actions
    assert actions["input_rows"] == actions["accepted"] + actions["quarantined"] + actions["duplicates"]
    assert actions["accepted"] > 0.95 * expect_actions
    assert items["accepted"] == expect_items  # distinct items after the latest-row rule
    audit = store.read("run_audit", run_date).collect()
    assert all(a.reconciled for a in audit)
    inter = store.read("interactions", run_date)
    assert inter.filter("category = 'unknown'").count() < 0.01 * actions["accepted"]
