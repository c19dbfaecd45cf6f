import pytest

from shoprank.config import load_config
from shoprank.errors import ConfigError


def test_local_and_cluster_configs_load():
    local = load_config("conf/local.toml")
    assert local.spark.master == "local[2]"
    assert local.train.num_proc == 2
    cluster = load_config("conf/cluster.toml")
    assert cluster.spark.master is None  # spark-submit decides
    assert cluster.storage.warehouse.startswith("s3a://")


def test_overrides_are_typed():
    cfg = load_config("conf/local.toml", ["train.epochs=7", "score.top_k=5", "input.ts_unit=iso",
                                          "gate.enabled=false"])
    assert (cfg.train.epochs, cfg.score.top_k, cfg.input.ts_unit, cfg.gate.enabled) == (7, 5, "iso", False)


@pytest.mark.parametrize("override, message", [
    ("train.epochs=many", "train.epochs: expected int, found 'many'"),
    ("storage.engine=hdfs", "storage.engine: expected one of"),
    ("train.nope=1", "unknown keys ['nope']"),
    ("score.top_k=0", "score.top_k: expected >= 1"),
    ("input.action_map.pv=look", "targets must be one of"),
])
def test_bad_values_say_what_was_expected(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config("conf/local.toml", [override])


def test_overrides_reach_table_valued_keys():
    cfg = load_config("conf/local.toml", ["spark.conf.spark.ui.enabled=true", "input.action_map.pv=view"])
    assert cfg.spark.conf["spark.ui.enabled"] == "true"
    assert cfg.spark.conf["spark.driver.memory"] == "4g"  # the file's other entries stay
    assert cfg.input.action_map == {"pv": "view"}


def test_run_date_never_from_file(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('run_date = "2026-01-01"\n')
    with pytest.raises(ConfigError, match="run_date comes from --run-date"):
        load_config(conf)


def test_shipped_dataset_configs_load():
    for name in ("taobao", "movielens"):
        cfg = load_config(f"conf/{name}.toml")
        assert cfg.input.actions_path
