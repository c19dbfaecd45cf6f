"""Validation, quarantine, deduplication, item cleaning and the actions-items join.

Every function here is a DataFrame -> DataFrame transform without actions.
Rows are never dropped by a transform: each gets a `reason` (null = accepted),
so the stage can count every outcome and reconcile input with output.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from shoprank.audit import ACCEPTED, HELD_OUT, NOT_QUARANTINED
from shoprank.config import ACTIONS
from shoprank.storage.sources import source_location
from shoprank.transforms import Transform


def parse_timestamp(col: Column, unit: str = "auto") -> Column:
    """Unix seconds, unix milliseconds or ISO-8601 text -> timestamp (null if unparseable).

    In `auto`, numbers above 1e11 are milliseconds (1e11 s is year 5138)."""
    text = F.trim(col)
    number = text.try_cast("double")
    is_number = text.rlike(r"^-?\d+(\.\d+)?$")
    if unit == "seconds":
        secs = number
    elif unit == "milliseconds":
        secs = number / 1000
    else:
        secs = F.when(F.abs(number) > 1e11, number / 1000).otherwise(number)
    from_number = F.timestamp_micros((secs * 1_000_000).try_cast("long"))
    from_text = F.try_to_timestamp(text)
    if unit in ("seconds", "milliseconds"):
        return F.when(is_number, from_number)
    if unit == "iso":
        return F.when(~is_number, from_text)
    return F.when(is_number, from_number).otherwise(from_text)


def _first_failure(*checks: tuple[Column, str | Column, Column | None]) -> tuple[Column, Column]:
    """(reason, detail) of the first failing check; the detail always belongs to the reason."""
    reason, detail = F.lit(None).cast("string"), F.lit(None).cast("string")
    for cond, why, more in reversed(checks):
        reason = F.when(cond, why if isinstance(why, Column) else F.lit(why)).otherwise(reason)
        detail = F.when(cond, more if more is not None else F.lit(None).cast("string")).otherwise(detail)
    return reason, detail


def map_actions(action_map: Mapping[str, str]) -> Transform:
    """Source vocabulary -> canonical action (canonical names map to themselves)."""
    full = {a: a for a in ACTIONS}
    full.update({k.strip().lower(): v for k, v in action_map.items()})
    mapping = F.create_map(*[F.lit(x) for kv in full.items() for x in kv])

    def apply(df: DataFrame) -> DataFrame:
        return df.withColumn("action_raw", F.col("action")).withColumn(
            "action", mapping[F.lower(F.trim("action"))])

    return apply


def validate_actions(run_end: dt.datetime, horizon_start: dt.datetime, ts_unit: str,
                     hold_out_later: bool = False) -> Transform:
    """Add `ts` (timestamp), `event_date` and the first failing `reason`, `detail`. An
    event after the run's end is a `future_timestamp`, or, in a backtest
    (`hold_out_later`), held out: it happened after the night being replayed."""
    after = (HELD_OUT, "held out: after the backtest night's end") if hold_out_later else (
        "future_timestamp", f"ts after run end {run_end.isoformat()}")

    def apply(df: DataFrame) -> DataFrame:
        df = df.withColumn("ts_raw", F.col("ts")).withColumn("ts", parse_timestamp(F.col("ts"), ts_unit))
        ts = F.col("ts")
        reason, detail = _first_failure(
            (F.col("parse_error").isNotNull(), F.split("parse_error", ":")[0], F.col("parse_error")),
            (F.col("user_id").isNull(), "null_user_id", F.lit("user_id is missing or empty")),
            (F.col("item_id").isNull(), "null_item_id", F.lit("item_id is missing or empty")),
            (F.col("action").isNull(), "unknown_action",
             F.coalesce(F.concat(F.lit("action '"), F.col("action_raw"), F.lit("' not in the action map")),
                        F.lit("action is missing or empty"))),
            (ts.isNull(), "bad_timestamp", F.coalesce(
                F.concat(F.lit("cannot parse ts '"), F.col("ts_raw"), F.lit("'")), F.lit("ts is missing or empty"))),
            (ts >= F.lit(run_end), after[0], F.concat(F.lit(f"{after[1]}: "), ts.cast("string"))),
            (ts < F.lit(horizon_start), "stale_timestamp",
             F.concat(F.lit(f"ts before horizon {horizon_start.isoformat()}: "), ts.cast("string"))),
        )
        # The raw texts only served the details; dropping them keeps the shuffle narrow.
        return (df.withColumn("reason", reason).withColumn("detail", detail)
                .withColumn("event_date", F.to_date("ts")).drop("action_raw", "ts_raw", "parse_error"))

    return apply


def flag_duplicates(near_dup_seconds: int) -> Transform:
    """Among valid rows of one (user, item, action): a row identical to the previous
    one is an exact duplicate; one within `near_dup_seconds` of it is a near-duplicate."""

    def apply(df: DataFrame) -> DataFrame:
        # Window inputs are columns, so every window expression below shares one
        # window (one sort). The leading 64-bit hash settles most comparisons within
        # the sort's 8-byte prefix; the columns after it keep groups exact if two
        # hashes collide. Extras are key-sorted at the source and compared by a hash
        # of their entries: the shuffle carries 8 bytes instead of the entries, and a
        # collision could only turn a near-duplicate at the same second into an exact one.
        df = (df.withColumn("_valid", F.col("reason").isNull())
              .withColumn("_extra", F.xxhash64(F.map_entries("extra")))
              .withColumn("_group", F.xxhash64("user_id", "item_id", "action", "_valid")))
        w = Window.partitionBy("_group", "user_id", "item_id", "action", "_valid").orderBy("ts", "_extra")
        df = df.withColumn("_prev_ts", F.lag("ts").over(w)).withColumn("_prev_extra", F.lag("_extra").over(w))
        gap = F.col("ts").cast("double") - F.col("_prev_ts").cast("double")
        same_extra = F.col("_extra") == F.col("_prev_extra")
        dup = (F.when(~F.col("_valid"), None)
               .when((gap == 0) & same_extra, "exact_duplicate")
               .when(gap <= near_dup_seconds, "near_duplicate"))
        return (df.withColumn("_dup", dup)
                .withColumn("reason", F.coalesce("reason", "_dup"))
                .withColumn("detail", F.when(F.col("_dup").isNotNull(), F.concat(
                    F.lit("previous event at "), F.col("_prev_ts").cast("string"))).otherwise(F.col("detail")))
                .drop("_valid", "_extra", "_group", "_prev_ts", "_prev_extra", "_dup"))

    return apply


def duplicate_counts() -> dict[str, Column]:
    """Aggregates of flag_duplicates' outcomes, keyed like the outcome counts."""
    reason = F.col("reason")
    return {ACCEPTED: F.count_if(reason.isNull()),
            "exact_duplicate": F.count_if(reason == "exact_duplicate"),
            "near_duplicate": F.count_if(reason == "near_duplicate")}


def flag_bot_days(max_events_per_user_day: int) -> Transform:
    """Rows of user-days with more valid rows than the cap become `bot_user`.

    The rows are shuffled by user and counted by a window over that shuffle. So
    the counting needs no pass of its own, and flag_duplicates' window (which
    partitions by user too) reuses the same shuffle. Bots are flagged before
    deduplication: a bot's duplicates are quarantined with it."""

    def apply(df: DataFrame) -> DataFrame:
        valid = F.col("reason").isNull()
        events = F.count_if(valid).over(Window.partitionBy("user_id", "event_date"))
        bot = valid & (F.col("_events") > max_events_per_user_day)
        detail = F.concat(F.lit(f"more than {max_events_per_user_day} events on "),
                          F.col("event_date").cast("string"), F.lit(": "), F.col("_events").cast("string"))
        # `detail` first: it reads the reason before it is overwritten.
        return (df.repartition("user_id").withColumn("_events", events)
                .withColumn("detail", F.when(bot, detail).otherwise(F.col("detail")))
                .withColumn("reason", F.when(bot, F.lit("bot_user")).otherwise(F.col("reason")))
                .drop("_events"))

    return apply


def bot_summary() -> dict[str, Column]:
    """Aggregates of flag_bot_days' outcome: the bot rows, and the bot-like user-days
    with their detail. There are at most rows / cap user-days: a list small enough
    to come back to the driver and be broadcast to the quarantine pass. They come
    as JSON: observed metrics reach Python as Java objects, save for scalars."""
    bot = F.col("reason") == "bot_user"
    day = F.struct("user_id", "event_date", F.col("detail").alias("_bot_detail"))
    return {"bot_rows": F.count_if(bot), "bot_days": F.to_json(F.collect_set(F.when(bot, day)))}


def bot_days_rows(summary: dict) -> list[tuple[str, dt.date, str]]:
    """bot_summary's result -> rows of BOT_DAYS."""
    days = json.loads(summary["bot_days"] or "[]")
    return sorted((d["user_id"], dt.date.fromisoformat(d["event_date"]), d["_bot_detail"]) for d in days)


def flag_bots(bot_days: DataFrame) -> Transform:
    """Rows of the given bot-like user-days (user_id, event_date, _bot_detail) that
    passed validation become `bot_user`: flag_bot_days' outcome, given as a list."""

    def apply(df: DataFrame) -> DataFrame:
        bot = F.col("_bot_detail").isNotNull() & F.col("reason").isNull()
        # `detail` first: it reads the reason before it is overwritten.
        return (df.join(bot_days, ["user_id", "event_date"], "left")
                .withColumn("detail", F.when(bot, F.col("_bot_detail")).otherwise(F.col("detail")))
                .withColumn("reason", F.when(bot, "bot_user").otherwise(F.col("reason")))
                .drop("_bot_detail"))

    return apply


def pseudonymize_users(key: str) -> Transform:
    """Keyed SHA-256 of the user id; the same key gives the same pseudonym every night."""

    def apply(df: DataFrame) -> DataFrame:
        hashed = F.sha2(F.concat(F.lit(key), F.lit("\x00"), F.col("user_id")), 256).substr(1, 32)
        return df.withColumn("user_id", F.when(F.col("user_id").isNotNull(), hashed))

    return apply


TRUE_WORDS = ("true", "t", "yes", "y", "1", "active", "on")
FALSE_WORDS = ("false", "f", "no", "n", "0", "inactive", "off")


def validate_items(max_price: float, cutoff: dt.datetime | None = None) -> Transform:
    """Add typed `price_value`, `updated_ts`, `active_flag` and the first failing `reason`.
    In a backtest (`cutoff`), a row updated after the cutoff is held out: the catalogue
    is replayed as it was."""

    def apply(df: DataFrame) -> DataFrame:
        price = F.col("price").try_cast("double")
        # Catalogue exports pad and capitalise flags (" Yes"); a blank one means unset.
        flag = F.nullif(F.lower(F.trim(F.col("active"))), F.lit(""))
        df = (df.withColumn("price_value", price)
              .withColumn("updated_ts", parse_timestamp(F.col("updated_at"), "auto"))
              .withColumn("active_flag", F.when(flag.isNull(), True).when(flag.isin(*TRUE_WORDS), True)
                          .when(flag.isin(*FALSE_WORDS), False)))
        out_of_range = F.concat(F.lit(f"price must be in (0, {max_price:g}], found "), F.col("price"))
        checks = [
            (F.col("parse_error").isNotNull(), F.split("parse_error", ":")[0], F.col("parse_error")),
            (F.col("item_id").isNull(), "null_item_id", F.lit("item_id is missing or empty")),
            (F.col("price").isNotNull() & price.isNull(), "bad_price",
             F.concat(F.lit("price '"), F.col("price"), F.lit("' is not a number"))),
            # NaN compares false with everything: it needs its own check.
            (F.isnan(price) | (price <= 0) | (price > max_price), "bad_price", out_of_range),
            (F.col("active_flag").isNull(), "bad_active",
             F.concat(F.lit("active '"), F.col("active"), F.lit(f"' is not one of {TRUE_WORDS + FALSE_WORDS}"))),
        ]
        if cutoff is not None:
            checks.append((F.col("updated_ts") >= F.lit(cutoff), HELD_OUT,
                           F.lit("held out: updated after the backtest night's end")))
        reason, detail = _first_failure(*checks)
        return df.withColumn("reason", reason).withColumn("detail", detail)

    return apply


def flag_superseded_items(df: DataFrame) -> DataFrame:
    """Keep the latest valid row per item (by updated_at, then file and content)."""
    valid = F.col("reason").isNull()
    w = Window.partitionBy("item_id", valid).orderBy(
        F.col("updated_ts").desc_nulls_last(), F.col("source_file").desc(), F.col("raw").desc())
    rn = F.row_number().over(w)
    return df.withColumn("reason", F.when(valid & (rn > 1), "superseded").otherwise(F.col("reason")))


def normalize_title(col: Column) -> Column:
    return F.lower(F.regexp_replace(F.trim(col), r"\s+", " "))


def clean_items(run_date: dt.date, category_separator: str = "") -> Transform:
    """Accepted item rows -> ITEMS: fill gaps, normalise titles, price from category median."""

    def apply(df: DataFrame) -> DataFrame:
        category = F.col("category")
        if category_separator:
            category = F.split(category, "\\" + category_separator if len(category_separator) == 1 else category_separator)[0]
        items = df.select(
            F.lit(run_date).alias("run_date"),
            "item_id",
            F.coalesce(F.lower(F.trim(category)), F.lit("unknown")).alias("category"),
            F.coalesce(F.trim("brand"), F.lit("unknown")).alias("brand"),
            F.col("price_value").alias("price"),
            F.coalesce(normalize_title(F.col("title")), F.lit("")).alias("title"),
            "description",
            F.col("updated_ts").alias("updated_at"),
            F.col("active_flag").alias("active"),
            "extra",
        )
        by_cat = items.groupBy("category").agg(F.median("price").alias("_cat_median"))
        overall = items.agg(F.median("price").alias("_all_median"))
        filled = (items.join(F.broadcast(by_cat), "category", "left").crossJoin(F.broadcast(overall))
                  .withColumn("price_filled", F.col("price").isNull() &
                              F.coalesce("_cat_median", "_all_median").isNotNull())
                  .withColumn("price", F.coalesce("price", "_cat_median", "_all_median")))
        return filled.drop("_cat_median", "_all_median")

    return apply


def join_items(items: DataFrame, run_date: dt.date) -> Transform:
    """Accepted actions + latest item rows -> INTERACTIONS. Unknown items are kept, flagged.

    Spark picks the join: a broadcast when the item table is under
    spark.sql.autoBroadcastJoinThreshold (no shuffle of the actions, so hot items
    cannot make stragglers), else a sort-merge join whose skewed partitions AQE splits."""

    def apply(actions: DataFrame) -> DataFrame:
        right = items.select("item_id", "category", "brand", "price", F.lit(True).alias("item_known"))
        joined = actions.join(right, "item_id", "left")
        return joined.select(
            F.lit(run_date).alias("run_date"),
            "user_id",
            "item_id",
            "action",
            "ts",
            "event_date",
            F.coalesce("category", F.lit("unknown")).alias("category"),
            F.coalesce("brand", F.lit("unknown")).alias("brand"),
            "price",
            F.coalesce("item_known", F.lit(False)).alias("item_known"),
            "extra",
        )

    return apply


def to_quarantine(source: str, run_date: dt.date) -> Transform:
    def apply(df: DataFrame) -> DataFrame:
        return df.select(
            F.lit(run_date).alias("run_date"), F.lit(source).alias("source"),
            source_location(F.col("source_file")).alias("source_file"),
            "reason", "detail", "raw", "raw_base64",
        )

    return apply


def is_quarantined() -> Column:
    return F.col("reason").isNotNull() & ~F.col("reason").isin(*NOT_QUARANTINED)
