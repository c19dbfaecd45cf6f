"""Typed, frozen configuration: `conf/<env>.toml` plus `--set section.key=value`
overrides. The run date never lives in a file; it comes from the command line.

Types are strict: a TOML value must already have the declared type (an integer may
stand for a float, nothing else converts), and a `--set` value is read as a TOML
value (`7`, `0.5`, `true`, `["a", "b"]`), except for string settings, which take
the text as written. Every number has a declared range, every string with a fixed
vocabulary its choices. Errors name the key, where the value came from (the file
or the `--set`), what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
import math
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
ENCODINGS = ("utf-8", "us-ascii", "iso-8859-1")
INF = math.inf


def num(default: float, lo: float = -INF, hi: float = INF, *, lo_open: bool = False) -> Any:
    """A number with its allowed range [lo, hi] ((lo, hi] with lo_open)."""
    return field(default=default, metadata={"range": (lo, hi, lo_open)})


def choice(default: str, options: tuple[str, ...]) -> Any:
    return field(default=default, metadata={"choices": options})


@dataclass(frozen=True)
class SparkConf:
    master: str | None = None  # None: spark-submit or the cluster decides
    app_name: str = "shoprank"
    shuffle_partitions: int = num(8, 1, 100_000)
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StorageConf:
    warehouse: str = "warehouse"  # root of every Delta table (a path or a URI)
    artifacts: str = "artifacts"  # root of every other file: shards, models, reports
    engine: str = choice("auto", ENGINES)  # delta-spark when the session has Delta's jars, else delta-rs


@dataclass(frozen=True)
class InputConf:
    actions_path: str = "data/sample/actions"
    actions_format: str = choice("csv", FORMATS)
    actions_header: bool = True
    # Source column names in file order, for header-less CSV (e.g. Taobao).
    actions_columns: tuple[str, ...] = ()
    actions_delimiter: str = ","
    items_path: str = "data/sample/items"
    items_format: str = choice("csv", FORMATS)
    items_header: bool = True
    items_columns: tuple[str, ...] = ()
    items_delimiter: str = ","
    # Text encoding of CSV and JSON lines inputs; undecodable records are quarantined.
    encoding: str = choice("utf-8", ENCODINGS)
    # canonical name -> source column name
    action_renames: dict[str, str] = field(default_factory=dict)
    item_renames: dict[str, str] = field(default_factory=dict)
    # source vocabulary -> canonical action; canonical names always map to themselves
    action_map: dict[str, str] = field(default_factory=dict)
    ts_unit: str = choice("auto", ("auto", "seconds", "milliseconds", "iso"))
    category_separator: str = ""  # e.g. "|" for MovieLens genres: first one is the category
    pseudonymize_users: bool = False  # keyed hash; key from $SHOPRANK_PSEUDONYM_KEY


@dataclass(frozen=True)
class ValidationConf:
    # The history a snapshot sees: the night's own and each label window's, before its
    # cutoff. A night keeps this plus the label windows' span (`Config.windows_days`);
    # older events are quarantined as stale. Ten years by default, so a shop's whole log
    # (or a public dataset's) is read with no setting and only garbage such as epoch-0
    # times is stale; a nightly config bounds it (conf/local.toml: 30).
    horizon_days: int = num(3650, 1, 100_000)
    max_price: float = num(1_000_000.0, 0, INF, lo_open=True)
    max_events_per_user_day: int = num(2000, 1, 10**9)
    near_dup_seconds: int = num(2, 0, 86_400)


@dataclass(frozen=True)
class GateConf:
    enabled: bool = True
    # allowed relative change of each profile metric versus the previous run
    max_row_change: float = num(0.5, 0, INF)
    max_null_rate: float = num(0.2, 0, 1)
    max_quarantine_rate: float = num(0.2, 0, 1)
    max_action_share_change: float = num(0.25, 0, 1)


@dataclass(frozen=True)
class GenerateConf:
    users: int = num(1500, 1, 10**9)
    items: int = num(600, 1, 10**9)
    categories: int = num(12, 1, 10_000)
    brands: int = num(40, 1, 10**6)
    days: int = num(8, 1, 3650)
    sessions_per_user_day: float = num(1.2, 0, 1000, lo_open=True)
    dirt_rate: float = num(0.01, 0, 1)
    hot_item_share: float = num(0.0, 0, 1)  # bench: share of events on the top 1% of items
    inactive_rate: float = num(0.02, 0, 1)  # share of catalogue items marked inactive
    seed: int = num(7, 0, 2**31 - 1)


@dataclass(frozen=True)
class ExamplesConf:
    """The ranker's lists: label windows of `label_days` before the night's end, the newest
    validating, the `windows` before it training."""

    # 0: the horizon the lists are judged at (`Config.label_days`), so the ranker learns
    # what users do over the span it is scored on, in a shop whose config never says.
    label_days: int = num(0, 0, 100_000)
    windows: int = num(3, 1, 1000)
    list_size: int = num(100, 2, 100_000)  # items per list: every positive, then negatives
    random_negatives: int = num(5, 0, 10_000)  # random catalogue items added to each list
    shards: int = num(4, 1, 100_000)
    seed: int = num(11, 0, 2**31 - 1)
    # Keep each window's recall outputs and read them back on later nights whose inputs
    # match (recall.reuse): tonight's training windows are mostly last night's.
    reuse_recall: bool = True


RECALL_SOURCES = ("covisit", "transitions", "item_knn", "ease", "neighbours", "als", "category_popular", "trending",
                  "segment_popular", "popular", "returning", "content")
# `returning` is off unless listed: it lifted ML-100k's published lists by 8% but cost
# Taobao's and ml-latest-small's as much (bench/RESULTS.md, "The chart of return visits")
DEFAULT_SOURCES = tuple(s for s in RECALL_SOURCES if s != "returning")


@dataclass(frozen=True)
class CandidatesConf:
    sources: tuple[str, ...] = DEFAULT_SOURCES  # recall sources to run ("content" needs item text)
    per_source: int = num(50, 1, 100_000)  # each source's best items per user kept for ranking
    # A source's rank r reaches the ranker (and its untrained fusions) as 1 / (rank_offset + r),
    # reciprocal-rank fusion's constant. 2 ranked the stored lists of three backtests better
    # but published no better lists there than 0 (bench/RESULTS.md, "The rank offset")
    rank_offset: float = num(0.0, 0)
    # Recall sources (and the backtest's baselines, the same models) computed at once from
    # driver threads: each is a chain of small jobs that alone leaves cores idle; 1: in turn
    concurrent_sources: int = num(3, 1, 64)
    popular_days: int = num(30, 1, 100_000)  # the window of popularity charts
    # ... reaching back further until it holds this many events: a month of a slow shop is
    # a handful of users, a chart of noise (0: popular_days alone)
    popular_min_events: int = num(10_000, 0, 10**12)
    trend_days: int = num(3, 1, 100_000)  # the recent window `trending` compares with the chart's
    # `returning` charts events taken this long after the user's first: a return visit
    return_after_hours: float = num(24.0, 0)
    decay_days: float = num(14.0, 0, INF, lo_open=True)  # an event's weight halves every decay_days
    covisit_hours: float = num(24.0, 0, INF, lo_open=True)  # co-visits: events this close in time
    graph_events_per_user: int = num(50, 2, 100_000)  # item graphs use each user's latest events
    seeds_per_user: int = num(20, 1, 100_000)  # a user's recent items that seed co-visits
    last_items: int = num(5, 1, 1000)  # a user's last items that seed transitions
    transition_steps: int = num(3, 1, 100)  # transitions reach this many items ahead
    neighbours: int = num(50, 1, 100_000)  # neighbours kept per item in item graphs and kNN
    als_rank: int = num(32, 1, 4096)
    als_iterations: int = num(10, 1, 1000)  # MLlib's default; each costs a few Spark stages
    als_reg: float = num(0.1, 0)
    als_alpha: float = num(1.0, 0, INF, lo_open=True)  # confidence = 1 + alpha * action-weighted events
    # EASE inverts an items x items matrix in one task: its most popular items only
    ease_max_items: int = num(5000, 1, 40_000)
    ease_lambda: float = num(500.0, 0, INF, lo_open=True)
    ease_neighbours: int = num(200, 1, 100_000)  # weights kept per item
    # A user's r-th most recent item weighs 1 / (1 + r / ease_recent_items) in the `ease`
    # and `neighbours` sources' scores (0: every item alike, as the `ease` baseline)
    ease_recent_items: float = num(20.0, 0)
    # The `ease` source fits pairs weighing 0.5 ** (age / half-life), the half-life this
    # many days or longer, until it holds popular_min_events events (0: binary pairs, as
    # the `ease` baseline). 14 lifted the source by 10% on ML-100k but not the published
    # lists (bench/RESULTS.md, "EASE that knows when"), so it is off
    ease_half_life_days: float = num(0.0, 0)
    # The `neighbours` source (users' nearest neighbours' items in the charts' window) is
    # fit on this many of the items most users had, keeping each item's largest weights
    neighbours_max_items: int = num(5000, 1, 40_000)
    neighbours_kept: int = num(200, 1, 100_000)
    segments: int = num(8, 1, 1000)  # K-means user segments
    segment_categories: int = num(16, 1, 1000)  # categories describing a user for segmentation
    seed: int = num(17, 0, 2**31 - 1)

    @property
    def most_per_user(self) -> int:
        """The most candidates a user can have (every source's `per_source`)."""
        return len(self.sources) * self.per_source


@dataclass(frozen=True)
class TextConf:
    """Item text (title, description) embedded by a pretrained sentence encoder."""

    enabled: bool = True
    batch_size: int = num(64, 1, 100_000)


@dataclass(frozen=True)
class TrainConf:
    num_proc: int = num(2, 1, 10_000)
    # Horovod's bounded waits: every rank must have started within start_timeout_s (raise
    # it where executors are allocated on demand), a Gloo operation waits at most
    # gloo_timeout_s for a rank that stopped answering (Horovod's defaults: 600 and 30),
    # and each rank ends after run_timeout_s, stuck or not (a night must not hang).
    start_timeout_s: int = num(600, 1, 86_400)
    gloo_timeout_s: int = num(30, 1, 86_400)
    run_timeout_s: int = num(14_400, 1, 604_800)
    epochs: int = num(20, 1, 10_000)  # at most: early stopping keeps the best epoch
    patience: int = num(3, 1, 10_000)  # epochs without a better validation NDCG before stopping
    loss: str = choice("listwise", ("listwise", "binary"))
    # The lists the untrained start is chosen on: every labelled list ("all": training
    # windows too; next to nothing is fitted, so more lists only cut the luck of a small
    # validation window) or the validation window's alone. The start is the weighted
    # fusion of the sources unless another start beats it there beyond min_gain_se, raised
    # for being the best of many starts on few lists (ml.train.selection_bar).
    prior_lists: str = choice("all", ("all", "validation"))
    # A rival start, or a trained epoch, replaces the start only if its validation gain
    # exceeds this many standard errors of the paired per-list gain, raised to keep the
    # same false-alarm rate over all rival starts or all epochs tried (as Student's t):
    # on a window of a few lists the best of many epochs or starts wins by chance (0: any
    # gain). Of the epochs, the one whose gain less that many errors is largest is kept
    # (the surest, not the luckiest).
    min_gain_se: float = num(1.0, 0, 100)
    # One of the starts is a fusion weighing each source by its NDCG on the training lists
    # to this power (0: equal weights, the plain fusion; higher: nearer the best source alone).
    fusion_power: float = num(2.0, 0, 100)
    batch_size: int = num(32, 1, 10**6)  # lists per step and rank
    embedding_dim: int = num(16, 1, 4096)
    hidden: tuple[str, ...] = ("64", "32")  # hidden layer widths of the deep part
    learning_rate: float = num(0.002, 0, 10, lo_open=True)
    item_buckets: int = num(65_536, 1, 2**31 - 1)
    category_buckets: int = num(4096, 1, 2**31 - 1)
    seed: int = num(5, 0, 2**31 - 1)
    # After validation has chosen the start and the epochs, train again for those epochs
    # with the validation window's lists added: the served model learns from the newest
    # labels but is no longer the one validation judged (off: serve the epoch it chose;
    # on MovieLens 100k a refit served 0.088 where its validated epoch served 0.137).
    refit: bool = False


@dataclass(frozen=True)
class ScoreConf:
    top_k: int = num(10, 1, 10_000)
    # A business rule, off by default (0): a cap costs accuracy wherever a user's interest
    # is concentrated in few categories, which a shop cannot know in advance.
    max_per_category: int = num(0, 0, 10_000)
    # Diversity: 1 ranks by score alone; lower trades relevance for new categories (MMR).
    mmr_lambda: float = num(1.0, 0, 1)
    rerank_depth: int = num(50, 1, 100_000)  # each user's best candidates the final list is picked from
    # Items never recommended to a user again: any they interacted with ("seen"), only
    # what they bought ("purchased"), or none.
    exclude: str = choice("seen", ("seen", "purchased", "none"))
    # What may be published: items in the catalogue, active (unless false), and priced:
    # "required" (a missing price makes an item unsellable), "ignored", or "auto"
    # (required when the catalogue carries any price at all; a catalogue without
    # prices, e.g. films, sells by other means).
    require_active: bool = True
    price_policy: str = choice("auto", ("auto", "required", "ignored"))


@dataclass(frozen=True)
class EvaluateConf:
    """How published lists are scored against what users did next (nightly and backtest)."""

    horizon_days: int = num(7, 1, 100_000)  # nightly: score the list published this many days ago
    relevant_actions: tuple[str, ...] = ()  # actions that count as "did next" (empty: all)
    cold_max_events: int = num(4, 0, 10**9)  # users with at most this many events are cold
    light_max_events: int = num(30, 0, 10**9)  # ... then light; above, heavy


@dataclass(frozen=True)
class BacktestConf:
    """Baselines computed beside shoprank in `shoprank backtest`."""

    popular_days: int = num(30, 1, 100_000)
    als_rank: int = num(64, 1, 4096)
    als_iterations: int = num(10, 1, 1000)
    als_reg: float = num(0.1, 0)
    als_alpha: float = num(1.0, 0, INF, lo_open=True)
    knn_neighbours: int = num(100, 1, 100_000)
    ease_max_items: int = num(10_000, 1, 40_000)  # EASE inverts an items x items matrix in one task
    ease_lambda: float = num(500.0, 0, INF, lo_open=True)
    ease_neighbours: int = num(200, 1, 100_000)
    seed: int = num(13, 0, 2**31 - 1)
    # The paired bootstrap over (night, user) behind the headline ratio's interval.
    bootstrap_replicates: int = num(1000, 0, 100_000)  # 0: no interval
    # Fewer (night, user) pairs with a hit in either list than this: the interval is
    # reported as not determined (a percentile interval from a handful of hits is not one).
    bootstrap_min_hits: int = num(30, 0, 10**9)


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
    text: TextConf = field(default_factory=TextConf)
    train: TrainConf = field(default_factory=TrainConf)
    score: ScoreConf = field(default_factory=ScoreConf)
    evaluate: EvaluateConf = field(default_factory=EvaluateConf)
    backtest: BacktestConf = field(default_factory=BacktestConf)

    @property
    def label_days(self) -> int:
        """Days per label window: `examples.label_days`, or when 0 the horizon published
        lists are scored at (`evaluate.horizon_days`; a backtest sets it to its own)."""
        return self.examples.label_days or self.evaluate.horizon_days

    @property
    def windows_days(self) -> int:
        """Days the label windows reach back from a night's end. A window's snapshot sees
        `validation.horizon_days` before its start, as a night ending there saw: training
        lists look like served ones, and a window's inputs do not change from one night
        to the next (its recall is kept, `recall.reuse`). A night keeps this much more."""
        return self.label_days * (self.examples.windows + 1)


# ------------------------------------------------------------------ loading
@dataclass(frozen=True)
class _Override:
    """A value given on the command line: its text, and the assignment for messages."""

    text: str
    assignment: str


TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
              dict: "a table", tuple: "a list"}


def _kind(value: Any) -> str:
    return TYPE_NAMES.get(type(value), type(value).__name__)


def _from_text(text: str, tp: Any) -> Any:
    """A --set value as the type wants it: string settings take the text as written
    (quotes optional); anything else is read as a TOML value."""
    stripped = text.strip()
    if tp is str:
        quoted = len(stripped) > 1 and stripped[0] == stripped[-1] and stripped[0] in "\"'"
        return tomllib.loads(f"v = {stripped}")["v"] if quoted else text
    try:
        return tomllib.loads(f"v = {stripped}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # left as text: the type check says what was expected


def _optional(tp: Any) -> Any | None:
    """X for `X | None`, else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None))
    return None


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """The value as the declared type, or a ConfigError saying why not. `where` names
    the key and the file it came from; a --set value names its assignment."""
    if isinstance(value, _Override):
        where = f"--set {value.assignment}"
        inner = _optional(tp)
        if inner is not None and not value.text.strip():
            return None  # `--set spark.master=` unsets an optional setting
        value = _from_text(value.text, inner or tp)
    if _optional(tp) is not None:
        return _coerce(value, _optional(tp), where)
    origin = typing.get_origin(tp)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table of strings, found {value!r} ({_kind(value)})")
        return {str(k): _table_value(v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, found {value!r} ({_kind(value)})")
        return tuple(value)
    accepted = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}[tp]
    if (isinstance(value, bool) and tp is not bool) or not isinstance(value, accepted):
        raise ConfigError(f"{where}: expected {TYPE_NAMES[tp]}, found {value!r} ({_kind(value)})")
    return float(value) if tp is float else value


def _table_value(value: Any, where: str) -> str:
    """Values of string tables (spark.conf, renames, maps). Spark settings may be
    written as TOML booleans or numbers; they become Spark's text for them."""
    if isinstance(value, _Override):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ConfigError(f"{where}: expected a string, found {value!r} ({_kind(value)})")


def _check_field(f: dataclasses.Field, value: Any, where: str) -> None:
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError(f"{where}: expected a number, found nan")
    if "range" in f.metadata:
        lo, hi, lo_open = f.metadata["range"]
        if not ((lo < value if lo_open else lo <= value) and value <= hi):
            bounds = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
            raise ConfigError(f"{where}: expected a value in {bounds}, found {value!r}")
    if "choices" in f.metadata and value not in f.metadata["choices"]:
        raise ConfigError(f"{where}: expected one of {f.metadata['choices']}, found {value!r}")


def _build(cls: type, data: dict[str, Any], source: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        sets = [f"--set {v.assignment}" for k, v in data.items() if k in unknown and isinstance(v, _Override)]
        origin = sets[0] if sets else f"{source}: [{prefix.rstrip('.') or 'top level'}]"
        raise ConfigError(f"{origin}: unknown keys {[prefix + k for k in unknown]}; expected some of "
                          f"{sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        tp, key = hints[name], prefix + name
        where = f"--set {value.assignment}" if isinstance(value, _Override) else f"{source}: {key}"
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table, found {value!r}")
            kwargs[name] = _build(tp, value, source, key + ".")
            continue
        kwargs[name] = _coerce(value, tp, where)
        _check_field(fields[name], kwargs[name], where)
    return cls(**kwargs)


def _apply_override(data: dict[str, Any], assignment: str) -> None:
    """`section.key=value`; for a table-valued key (spark.conf, input.action_map, ...)
    the rest of the dotted path is the table key: `spark.conf.spark.ui.enabled=true`."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment}: expected section.key=value")
    dotted, text = assignment.split("=", 1)
    keys = dotted.strip().split(".")
    value = _Override(text, assignment)
    node, cls = data, Config
    for i, key in enumerate(keys[:-1]):
        hints = typing.get_type_hints(cls) if cls is not None else {}
        tp = hints.get(key)
        if tp is not None and typing.get_origin(tp) is dict:
            node.setdefault(key, {})[".".join(keys[i + 1:])] = value
            return
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment}: '{key}' is not a section")
        cls = tp if tp is not None and dataclasses.is_dataclass(tp) else None
    node[keys[-1]] = value


def validate(cfg: Config, where: str) -> Config:
    """Checks that involve more than one setting."""
    e = cfg.examples
    checks = [
        (e.shards >= cfg.train.num_proc, "examples.shards", f">= train.num_proc ({cfg.train.num_proc}): each "
         "Horovod rank reads its own shards", e.shards),
        (bool(cfg.input.actions_delimiter), "input.actions_delimiter", "a non-empty delimiter",
         cfg.input.actions_delimiter),
        (bool(cfg.input.items_delimiter), "input.items_delimiter", "a non-empty delimiter",
         cfg.input.items_delimiter),
    ]
    for ok, key, expected, found in checks:
        if not ok:
            raise ConfigError(f"{where}: {key}: expected {expected}, found {found!r}")
    bad = {k: v for k, v in cfg.input.action_map.items() if v not in ACTIONS}
    if bad:
        raise ConfigError(f"{where}: input.action_map: targets must be one of {ACTIONS}, found {bad}")
    bad_sources = [x for x in cfg.candidates.sources if x not in RECALL_SOURCES]
    if bad_sources or not cfg.candidates.sources:
        raise ConfigError(f"{where}: candidates.sources: expected some of {RECALL_SOURCES}, found "
                          f"{list(cfg.candidates.sources)}")
    unknown = [a for a in cfg.evaluate.relevant_actions if a not in ACTIONS]
    if unknown:
        raise ConfigError(f"{where}: evaluate.relevant_actions: expected some of {ACTIONS}, found {unknown}")
    if cfg.evaluate.light_max_events < cfg.evaluate.cold_max_events:
        raise ConfigError(f"{where}: evaluate.light_max_events: expected >= evaluate.cold_max_events "
                          f"({cfg.evaluate.cold_max_events}), found {cfg.evaluate.light_max_events}")
    return cfg


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    if "run_date" in data:
        raise ConfigError(f"{path}: run_date comes from --run-date, not from the config file")
    for assignment in overrides:
        _apply_override(data, assignment)
    return validate(_build(Config, data, str(path)), f"{path}" + (" with --set" if overrides else ""))
