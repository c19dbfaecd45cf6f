"""One explicit schema per table. Readers and writers use these; nothing infers."""

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


def _s(*fields: tuple) -> StructType:
    return StructType([StructField(n, t, nullable) for n, t, nullable in fields])


EXTRA = MapType(StringType(), StringType())

# Canonical raw records after parsing, before validation: every value still a string.
# `raw` is the record as decoded; `raw_base64` its exact bytes when undecodable.
RAW_ACTIONS = _s(
    ("user_id", StringType(), True),
    ("item_id", StringType(), True),
    ("action", StringType(), True),
    ("ts", StringType(), True),
    ("extra", EXTRA, True),
    ("raw", StringType(), True),
    ("raw_base64", StringType(), True),
    ("source_file", StringType(), True),
    ("parse_error", StringType(), True),
)

RAW_ITEMS = _s(
    ("item_id", StringType(), True),
    ("category", StringType(), True),
    ("brand", StringType(), True),
    ("price", StringType(), True),
    ("title", StringType(), True),
    ("description", StringType(), True),
    ("updated_at", StringType(), True),
    ("active", StringType(), True),
    ("extra", EXTRA, True),
    ("raw", StringType(), True),
    ("raw_base64", StringType(), True),
    ("source_file", StringType(), True),
    ("parse_error", StringType(), True),
)

# Bot-like user-days found by ingest's first pass, handed to its quarantine pass.
BOT_DAYS = _s(
    ("user_id", StringType(), False),
    ("event_date", DateType(), False),
    ("_bot_detail", StringType(), False),
)

ITEMS = _s(
    ("run_date", DateType(), False),
    ("item_id", StringType(), False),
    ("category", StringType(), False),
    ("brand", StringType(), False),
    ("price", DoubleType(), True),
    ("price_filled", BooleanType(), False),
    ("title", StringType(), False),
    ("description", StringType(), True),
    ("updated_at", TimestampType(), True),
    ("active", BooleanType(), False),  # sellable now (an `active` column in the input, default true)
    ("extra", EXTRA, True),
)

INTERACTIONS = _s(
    ("run_date", DateType(), False),
    ("user_id", StringType(), False),
    ("item_id", StringType(), False),
    ("action", StringType(), False),
    ("ts", TimestampType(), False),
    ("event_date", DateType(), False),
    ("category", StringType(), False),
    ("brand", StringType(), False),
    ("price", DoubleType(), True),
    ("item_known", BooleanType(), False),
    ("extra", EXTRA, True),
)

QUARANTINE = _s(
    ("run_date", DateType(), False),
    ("source", StringType(), False),  # actions | items
    ("source_file", StringType(), True),
    ("reason", StringType(), False),
    ("detail", StringType(), True),
    ("raw", StringType(), True),  # the record as it arrived (decoded)
    ("raw_base64", StringType(), True),  # its exact bytes, when they could not be decoded
)

RUN_AUDIT = _s(
    ("run_date", DateType(), False),
    ("source", StringType(), False),
    ("input_rows", LongType(), False),
    ("accepted", LongType(), False),
    ("quarantined", LongType(), False),
    ("exact_duplicates", LongType(), False),
    ("near_duplicates", LongType(), False),
    ("reconciled", BooleanType(), False),
    ("held_out", LongType(), True),  # backtest nights: rows after the night's cutoff
)

DATA_PROFILE = _s(
    ("run_date", DateType(), False),
    ("metric", StringType(), False),
    ("value", DoubleType(), True),
)

USER_FEATURES = _s(
    ("run_date", DateType(), False),
    ("user_id", StringType(), False),
    ("n_events", LongType(), False),
    ("n_purchases", LongType(), False),
    ("mean_log_price", DoubleType(), True),
    ("category_affinity", MapType(StringType(), DoubleType()), False),
    ("top_categories", ArrayType(StringType()), False),
)

ITEM_FEATURES = _s(
    ("run_date", DateType(), False),
    ("item_id", StringType(), False),
    ("category", StringType(), False),
    ("brand", StringType(), False),
    ("price", DoubleType(), True),
    ("n_events", LongType(), False),
    ("n_users", LongType(), False),
    ("conversion", DoubleType(), False),
)

# One recall source's output for one cutoff, as the `examples` stage keeps it (recall.reuse).
SOURCE_SCORES = _s(
    ("user_id", StringType(), False),
    ("item_id", StringType(), False),
    ("score", DoubleType(), True),
)

CANDIDATES = _s(
    ("run_date", DateType(), False),
    ("user_id", StringType(), False),
    ("item_id", StringType(), False),
    ("sources", ArrayType(StringType()), False),
    ("recall_score", DoubleType(), False),
    ("source_scores", MapType(StringType(), DoubleType()), False),  # each source's score for the pair
    ("source_ranks", MapType(StringType(), IntegerType()), False),  # its rank among that source's items
)

RECOMMENDATIONS = _s(
    ("run_date", DateType(), False),
    ("user_id", StringType(), False),
    ("rank", IntegerType(), False),
    ("item_id", StringType(), False),
    ("score", DoubleType(), False),
    ("category", StringType(), False),
    ("sources", ArrayType(StringType()), False),
    ("model_version", StringType(), False),
)

LATEST_RECOMMENDATIONS = _s(
    ("user_bucket", IntegerType(), False),
    ("user_id", StringType(), False),
    ("run_date", DateType(), False),
    ("item_ids", ArrayType(StringType()), False),
    ("scores", ArrayType(DoubleType()), False),
)

# The nightly `evaluate` stage: the list published `horizon_days` before the run date,
# scored against what users did since (kind "published"), a baseline scored the same
# way ("baseline"), and the ranker's diagnostics on validation examples ("diagnostic").
METRICS = _s(
    ("run_date", DateType(), False),
    ("kind", StringType(), False),  # published | baseline | diagnostic
    ("model", StringType(), False),
    ("list_date", DateType(), True),  # the night whose list was scored (published, baseline)
    ("segment", StringType(), False),  # all | cold | light | heavy
    ("metric", StringType(), False),
    ("k", IntegerType(), True),
    ("value", DoubleType(), True),
    ("users", LongType(), False),
)

# `shoprank backtest`: each replayed night's published lists and every baseline, scored
# against what users did in the horizon after that night.
BACKTEST = _s(
    ("backtest_date", DateType(), False),  # the last night replayed (--run-date)
    ("night", DateType(), False),
    ("horizon_days", IntegerType(), False),
    ("model", StringType(), False),  # shoprank | a baseline | source:<recall source> | candidates
    ("segment", StringType(), False),
    ("metric", StringType(), False),
    ("k", IntegerType(), True),
    ("value", DoubleType(), True),
    ("users", LongType(), False),
)

# Each evaluated user's NDCG for one list of one replayed night: the units the
# backtest's bootstrap interval resamples (an artifact, not a table).
BACKTEST_USERS = _s(
    ("night", DateType(), False),
    ("model", StringType(), False),
    ("user_id", StringType(), False),
    ("ndcg", DoubleType(), False),
)

# Text embeddings of item titles and descriptions, a cache keyed by the model and a
# hash of the text: an item whose text did not change is never embedded again.
ITEM_EMBEDDINGS = _s(
    ("text_hash", StringType(), False),
    ("model", StringType(), False),
    ("vector", ArrayType(FloatType()), False),
)

# The ranker's examples: one row per (list, item), the lists of a label window (one per
# user with a positive among their candidates); `features` in the order of
# `features.feature_names`. Scoring builds the same columns for the night's candidates.
EXAMPLES = _s(
    ("list_id", StringType(), False),
    ("user_id", StringType(), False),
    ("item_id", StringType(), False),
    ("category", StringType(), False),
    ("features", ArrayType(FloatType()), False),
    ("label", FloatType(), False),
)

# Delta tables: schema and partition columns. The I/O module reads this registry.
TABLES: dict[str, tuple[StructType, list[str]]] = {
    "items": (ITEMS, ["run_date"]),
    "interactions": (INTERACTIONS, ["run_date"]),
    "quarantine": (QUARANTINE, ["run_date"]),
    "run_audit": (RUN_AUDIT, ["run_date"]),
    "data_profile": (DATA_PROFILE, ["run_date"]),
    "user_features": (USER_FEATURES, ["run_date"]),
    "item_features": (ITEM_FEATURES, ["run_date"]),
    "candidates": (CANDIDATES, ["run_date"]),
    "recommendations": (RECOMMENDATIONS, ["run_date"]),
    "latest_recommendations": (LATEST_RECOMMENDATIONS, ["user_bucket"]),
    "metrics": (METRICS, ["run_date"]),
    "backtest": (BACKTEST, ["backtest_date"]),
    "item_embeddings": (ITEM_EMBEDDINGS, []),
}
