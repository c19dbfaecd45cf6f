import dataclasses
import typing

import pytest

from shoprank.config import RECALL_SOURCES, Config, load_config
from shoprank.errors import ConfigError


def test_local_and_cluster_configs_load():
    local = load_config("conf/local.toml")
    assert local.spark.master == "local[2]"
    assert local.train.num_proc == 2
    cluster = load_config("conf/cluster.toml")
    assert cluster.spark.master is None  # spark-submit decides
    assert cluster.storage.warehouse.startswith("s3a://") and cluster.storage.artifacts.startswith("s3a://")


def test_overrides_are_typed():
    cfg = load_config("conf/local.toml", ["train.epochs=7", "score.top_k=5", "input.ts_unit=iso",
                                          "gate.enabled=false", "validation.max_price=100",
                                          'input.actions_columns=["a", "b"]', "spark.master=local-cluster[2,1,1024]",
                                          "spark.app_name=2024"])
    assert (cfg.train.epochs, cfg.score.top_k, cfg.input.ts_unit, cfg.gate.enabled) == (7, 5, "iso", False)
    assert cfg.validation.max_price == 100.0 and isinstance(cfg.validation.max_price, float)
    assert cfg.input.actions_columns == ("a", "b")
    assert cfg.spark.master == "local-cluster[2,1,1024]" and cfg.spark.app_name == "2024"
    assert load_config("conf/local.toml", ["spark.master="]).spark.master is None


@pytest.mark.parametrize("override, message", [
    ("train.epochs=many", "--set train.epochs=many: expected an integer, found 'many' (a string)"),
    ("train.epochs=7.0", "--set train.epochs=7.0: expected an integer, found 7.0 (a number)"),
    ("train.epochs=true", "--set train.epochs=true: expected an integer, found True (a boolean)"),
    ("gate.enabled=no", "--set gate.enabled=no: expected a boolean, found 'no' (a string)"),
    ("gate.enabled=1", "--set gate.enabled=1: expected a boolean, found 1 (an integer)"),
    ("validation.max_events_per_user_day=-5", "expected a value in [1, 1e+09], found -5"),
    ("gate.max_null_rate=1.5", "--set gate.max_null_rate=1.5: expected a value in [0, 1], found 1.5"),
    ("train.learning_rate=0", "expected a value in (0, 10], found 0.0"),
    ("train.learning_rate=nan", "expected a number, found nan"),
    ("storage.engine=hdfs", "--set storage.engine=hdfs: expected one of ('auto', 'spark', 'delta-rs')"),
    ("input.encoding=cp1252", "expected one of ('utf-8', 'us-ascii', 'iso-8859-1'), found 'cp1252'"),
    ("train.nope=1", "--set train.nope=1: unknown keys ['train.nope']"),
    ("score.top_k=0", "--set score.top_k=0: expected a value in [1, 10000], found 0"),
    ("input.action_map.pv=look", "targets must be one of"),
    ("input.actions_columns=a,b", "expected a list of strings, found 'a,b' (a string)"),
    ("examples.shards=1", "examples.shards: expected >= train.num_proc (2)"),
    ("train", "--set train: expected section.key=value"),
])
def test_bad_values_say_what_was_expected_and_where_they_came_from(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("conf/local.toml", [override])
    assert message in str(err.value)


@pytest.mark.parametrize("text, message", [
    ('[train]\nepochs = "7"\n', 'c.toml: train.epochs: expected an integer, found \'7\' (a string)'),
    ("[validation]\nmax_events_per_user_day = -1\n", "c.toml: validation.max_events_per_user_day: expected a value"),
    ("[gate]\nenabled = \"no\"\n", "c.toml: gate.enabled: expected a boolean, found 'no'"),
    ("[score]\ntop_k = 2.5\n", "c.toml: score.top_k: expected an integer, found 2.5"),
    ("[trian]\nepochs = 3\n", "c.toml: [top level]: unknown keys ['trian']"),
    ("train = 3\n", "c.toml: train: expected a table, found 3"),
    ("[input]\nactions_columns = [1, 2]\n", "c.toml: input.actions_columns: expected a list of strings"),
    ("[train\n", "not valid TOML"),
])
def test_file_values_are_strict_and_errors_name_the_file(tmp_path, text, message):
    conf = tmp_path / "c.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(conf)
    assert message in str(err.value)


def test_every_numeric_setting_declares_its_range_and_every_default_is_valid():
    def walk(cls, prefix=""):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                yield from walk(hints[f.name], f"{prefix}{f.name}.")
            else:
                yield f"{prefix}{f.name}", hints[f.name], f

    unranged = [key for key, tp, f in walk(Config) if tp in (int, float) and "range" not in f.metadata]
    assert unranged == []
    load_config.__globals__["validate"](Config(), "defaults")  # the defaults pass the cross-checks


def test_overrides_reach_table_valued_keys():
    cfg = load_config("conf/local.toml", ["spark.conf.spark.ui.enabled=true", "input.action_map.pv=view"])
    assert cfg.spark.conf["spark.ui.enabled"] == "true"
    assert cfg.spark.conf["spark.driver.memory"] == "6g"  # the file's other entries stay
    assert cfg.input.action_map == {"pv": "view"}


def test_run_date_never_from_file(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('run_date = "2026-01-01"\n')
    with pytest.raises(ConfigError, match="run_date comes from --run-date"):
        load_config(conf)


def test_shipped_dataset_configs_load():
    for name in ("taobao", "movielens", "ml100k"):
        cfg = load_config(f"conf/{name}.toml")
        assert cfg.input.actions_path


def test_returning_is_off_unless_listed():
    """`returning` lifted one dataset and cost two (bench/RESULTS.md): no shipped config runs
    it by default, every other source runs, and listing it turns it on."""
    for name in ("local", "cluster", "taobao", "movielens", "ml100k"):
        sources = load_config(f"conf/{name}.toml").candidates.sources
        assert "returning" not in sources, name
    assert Config().candidates.sources == tuple(s for s in RECALL_SOURCES if s != "returning")
    listed = load_config("conf/local.toml", ["candidates.sources=[\"popular\", \"returning\"]"])
    assert listed.candidates.sources == ("popular", "returning")


def test_workdir_resolves_the_config_and_its_relative_paths(tmp_path, monkeypatch):
    from shoprank.cli import main

    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "shop.toml").write_text(
        '[input]\nactions_path = "data/actions"\nitems_path = "data/items"\n'
        "[generate]\nusers = 5\nitems = 4\ndays = 1\n")
    monkeypatch.chdir("/")  # a scheduler's working directory is anywhere
    args = ["generate", "--workdir", str(tmp_path), "--conf", "conf/shop.toml", "--run-date", "2026-11-21"]
    assert main(args) == 0
    assert any((tmp_path / "data" / "actions").iterdir()) and any((tmp_path / "data" / "items").iterdir())
    assert main([*args[:2], str(tmp_path / "missing"), *args[3:]]) == ConfigError.exit_code


def test_label_windows_follow_the_scored_horizon_unless_set():
    assert load_config("conf/ml100k.toml").label_days == 7  # unset: evaluate.horizon_days
    assert load_config("conf/ml100k.toml", ["evaluate.horizon_days=30"]).label_days == 30
    assert load_config("conf/ml100k.toml", ["evaluate.horizon_days=30", "examples.label_days=2"]).label_days == 2
    assert load_config("conf/taobao.toml", ["evaluate.horizon_days=30"]).label_days == 1  # set in the file
    # four windows of 100 days, each with the 400 days kept before it: the night keeps 800
    assert load_config("conf/ml100k.toml", ["evaluate.horizon_days=100"]).windows_days == 400
