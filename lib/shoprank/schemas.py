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
RAW_ACTIONS = _s(
    ("user_id", StringType(), True),
    ("item_id", StringType(), True),
    ("action", StringType(), True),
    ("ts", StringType(), True),
    ("extra", EXTRA, True),
    ("raw", StringType(), True),
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
    ("extra", EXTRA, True),
    ("raw", StringType(), True),
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
    ("raw", StringType(), True),
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

CANDIDATES = _s(
    ("run_date", DateType(), False),
    ("user_id", StringType(), False),
    ("item_id", StringType(), False),
    ("sources", ArrayType(StringType()), False),
    ("recall_score", DoubleType(), False),
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

METRICS = _s(
    ("run_date", DateType(), False),
    ("model", StringType(), False),
    ("metric", StringType(), False),
    ("k", IntegerType(), True),
    ("value", DoubleType(), False),
    ("n_users", LongType(), False),
)

# Model inputs, shared by training examples and scoring so they cannot drift apart.
FEATURE_COLUMNS = _s(
    ("user_id", StringType(), False),
    ("item_id", StringType(), False),
    ("category", StringType(), False),
    ("brand", StringType(), False),
    ("log_price", FloatType(), False),
    ("item_popularity", FloatType(), False),
    ("item_conversion", FloatType(), False),
    ("category_affinity", FloatType(), False),
    ("price_gap", FloatType(), False),
)

EXAMPLES = StructType(
    list(FEATURE_COLUMNS.fields)
    + [StructField("label", FloatType(), False), StructField("split", StringType(), False)]
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
}
