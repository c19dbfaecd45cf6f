"""Typed, frozen configuration: `conf/<env>.toml` plus `--set section.key=value`
overrides. The run date never lives in a file; it comes from the command line."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoprank.errors import ConfigError

ACTIONS = ("view", "click", "favorite", "add_to_cart", "purchase")
FORMATS = ("csv", "json", "parquet", "delta")
ENGINES = ("auto", "spark", "delta-rs")


@dataclass(frozen=True)
class SparkConf:
    master: str | None = None  # None: spark-submit or the cluster decides
    app_name: str = "shoprank"
    shuffle_partitions: int = 8
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StorageConf:
    warehouse: str = "warehouse"  # root of every Delta table
    work_dir: str = "work"  # training shards and models
    engine: str = "auto"  # auto | spark | delta-rs


@dataclass(frozen=True)
class InputConf:
    actions_path: str = "data/sample/actions"
    actions_format: str = "csv"
    actions_header: bool = True
    # Source column names in file order, for header-less CSV (e.g. Taobao).
    actions_columns: tuple[str, ...] = ()
    items_path: str = "data/sample/items"
    items_format: str = "csv"
    items_header: bool = True
    items_columns: tuple[str, ...] = ()
    # canonical name -> source column name
    action_renames: dict[str, str] = field(default_factory=dict)
    item_renames: dict[str, str] = field(default_factory=dict)
    # source vocabulary -> canonical action; canonical names always map to themselves
    action_map: dict[str, str] = field(default_factory=dict)
    ts_unit: str = "auto"  # auto | seconds | milliseconds | iso
    category_separator: str = ""  # e.g. "|" for MovieLens genres: first one is the category
    pseudonymize_users: bool = False  # keyed hash; key from $SHOPRANK_PSEUDONYM_KEY


@dataclass(frozen=True)
class ValidationConf:
    horizon_days: int = 30
    max_price: float = 1_000_000.0
    max_events_per_user_day: int = 2000
    near_dup_seconds: int = 2


@dataclass(frozen=True)
class GateConf:
    enabled: bool = True
    # allowed relative change of each profile metric versus the previous run
    max_row_change: float = 0.5
    max_null_rate: float = 0.2
    max_quarantine_rate: float = 0.2
    max_action_share_change: float = 0.25


@dataclass(frozen=True)
class GenerateConf:
    users: int = 1500
    items: int = 600
    categories: int = 12
    brands: int = 40
    days: int = 8
    sessions_per_user_day: float = 1.2
    dirt_rate: float = 0.01
    hot_item_share: float = 0.0  # bench: share of events on the top 1% of items
    seed: int = 7


@dataclass(frozen=True)
class ExamplesConf:
    validation_days: int = 1
    label_days: int = 3
    negatives_per_positive: int = 4
    eval_negatives: int = 50
    shards: int = 4
    seed: int = 11


@dataclass(frozen=True)
class CandidatesConf:
    lookback_days: int = 30
    top_categories: int = 3
    per_category: int = 30
    recent_items: int = 20
    cooc_neighbors: int = 20
    popular_fallback: int = 50


@dataclass(frozen=True)
class TrainConf:
    num_proc: int = 2
    epochs: int = 4
    batch_size: int = 512
    embedding_dim: int = 24
    learning_rate: float = 0.003
    user_buckets: int = 65_536
    item_buckets: int = 65_536
    category_buckets: int = 4096
    brand_buckets: int = 4096
    seed: int = 5


@dataclass(frozen=True)
class ScoreConf:
    top_k: int = 10
    max_per_category: int = 4
    exclude_purchased: bool = True


@dataclass(frozen=True)
class Config:
    env: str = "local"
    spark: SparkConf = field(default_factory=SparkConf)
    storage: StorageConf = field(default_factory=StorageConf)
    input: InputConf = field(default_factory=InputConf)
    validation: ValidationConf = field(default_factory=ValidationConf)
    gate: GateConf = field(default_factory=GateConf)
    generate: GenerateConf = field(default_factory=GenerateConf)
    examples: ExamplesConf = field(default_factory=ExamplesConf)
    candidates: CandidatesConf = field(default_factory=CandidatesConf)
    train: TrainConf = field(default_factory=TrainConf)
    score: ScoreConf = field(default_factory=ScoreConf)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Coerce a TOML or CLI value to the declared field type, or say why not."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        is_null = value is None or (isinstance(value, str) and value.lower() in ("none", "null", ""))
        if is_null and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _coerce(value, inner, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table of strings, found {value!r}")
        return {str(k): str(v) for k, v in value.items()}
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, found {value!r}")
        return tuple(str(v) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{where}: expected true/false, found {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected {tp.__name__}, found {value!r}")
        try:
            out = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {tp.__name__}, found {value!r}") from None
        if tp is int and isinstance(value, float) and value != out:
            raise ConfigError(f"{where}: expected int, found {value!r}")
        return out
    if tp is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(f"{where}: expected a string, found {value!r}")
        return str(value)
    raise ConfigError(f"{where}: unsupported type {tp}")


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; expected some of {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{name}: expected a table, found {value!r}")
            kwargs[name] = _build(tp, value, f"{where}.{name}")
        else:
            kwargs[name] = _coerce(value, tp, f"{where}.{name}")
    return cls(**kwargs)


def _apply_override(data: dict[str, Any], assignment: str) -> None:
    """`section.key=value`; for a table-valued key (spark.conf, input.action_map, ...)
    the rest of the dotted path is the table key: `spark.conf.spark.ui.enabled=true`."""
    if "=" not in assignment:
        raise ConfigError(f"override '{assignment}': expected section.key=value")
    dotted, value = assignment.split("=", 1)
    keys = dotted.strip().split(".")
    node, cls = data, Config
    for i, key in enumerate(keys[:-1]):
        hints = typing.get_type_hints(cls) if cls is not None else {}
        tp = hints.get(key)
        if tp is not None and typing.get_origin(tp) is dict:
            node.setdefault(key, {})[".".join(keys[i + 1:])] = value
            return
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{assignment}': '{key}' is not a section")
        cls = tp if tp is not None and dataclasses.is_dataclass(tp) else None
    node[keys[-1]] = value


def validate(cfg: Config) -> Config:
    checks = [
        (cfg.storage.engine in ENGINES, "storage.engine", f"one of {ENGINES}", cfg.storage.engine),
        (cfg.input.actions_format in FORMATS, "input.actions_format", f"one of {FORMATS}", cfg.input.actions_format),
        (cfg.input.items_format in FORMATS, "input.items_format", f"one of {FORMATS}", cfg.input.items_format),
        (cfg.input.ts_unit in ("auto", "seconds", "milliseconds", "iso"), "input.ts_unit",
         "auto|seconds|milliseconds|iso", cfg.input.ts_unit),
        (cfg.train.num_proc >= 1, "train.num_proc", ">= 1", cfg.train.num_proc),
        (cfg.score.top_k >= 1, "score.top_k", ">= 1", cfg.score.top_k),
        (cfg.score.max_per_category >= 1, "score.max_per_category", ">= 1", cfg.score.max_per_category),
        (cfg.examples.validation_days >= 1, "examples.validation_days", ">= 1", cfg.examples.validation_days),
        (cfg.examples.label_days >= 1, "examples.label_days", ">= 1", cfg.examples.label_days),
        (cfg.validation.horizon_days > cfg.examples.validation_days + cfg.examples.label_days,
         "validation.horizon_days", "> validation_days + label_days", cfg.validation.horizon_days),
    ]
    for ok, key, expected, found in checks:
        if not ok:
            raise ConfigError(f"{key}: expected {expected}, found {found!r}")
    bad = {k: v for k, v in cfg.input.action_map.items() if v not in ACTIONS}
    if bad:
        raise ConfigError(f"input.action_map: targets must be one of {ACTIONS}, found {bad}")
    return cfg


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for assignment in overrides:
        _apply_override(data, assignment)
    if "run_date" in data:
        raise ConfigError(f"{path}: run_date comes from --run-date, not from the config file")
    return validate(_build(Config, data, path.name))
