"""Data profile of a run and the quality gate that compares it with the previous run."""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from shoprank.config import ACTIONS, GateConf, ValidationConf

log = logging.getLogger(__name__)


def profile_aggregates() -> dict[str, Column]:
    """The interactions' profile metrics as aggregates: computed while the table is
    written (observed), or over the table read back."""
    return {
        "accepted_rows": F.count(F.lit(1)),
        "distinct_users": F.approx_count_distinct("user_id"),
        "distinct_items": F.approx_count_distinct("item_id"),
        "null_price_rate": F.avg(F.col("price").isNull().cast("double")),
        "unknown_category_rate": F.avg((F.col("category") == "unknown").cast("double")),
        "unknown_item_rate": F.avg((~F.col("item_known")).cast("double")),
        "min_event_day": F.min(F.unix_date("event_date")).cast("double"),
        "max_event_day": F.max(F.unix_date("event_date")).cast("double"),
        **{f"share_{a}": F.avg((F.col("action") == a).cast("double")) for a in ACTIONS},
    }


def as_profile(values: dict) -> dict[str, float]:
    """Aggregate results -> profile metrics (an empty table's nulls become 0)."""
    return {k: (float(v) if v is not None else 0.0) for k, v in values.items()}


def profile_counts(counts: dict[str, dict[str, int]]) -> dict[str, float]:
    """Counts per source (input/quarantined/duplicates) -> profile metrics."""
    out = {}
    for source, c in counts.items():
        total = max(c["input_rows"] - c.get("held_out", 0), 1)
        out[f"{source}_input_rows"] = float(c["input_rows"])
        out[f"{source}_quarantine_rate"] = c["quarantined"] / total
        out[f"{source}_duplicate_rate"] = c["duplicates"] / total
    return out


def check_gate(current: dict[str, float], previous: dict[str, float] | None, gate: GateConf,
               prices_required: bool = True) -> list[tuple[str, float, float, float]]:
    """Breaches as (metric, allowed_lo, allowed_hi, value). Absolute limits always
    apply, the share of events on unpriced items only where prices are required (a
    catalogue without prices, such as films, sells without them: `score.price_policy`);
    limits relative to the previous run apply when there is one."""
    breaches = []

    def within(metric: str, lo: float, hi: float) -> None:
        value = current.get(metric)
        if value is not None and not (lo <= value <= hi):
            breaches.append((metric, lo, hi, value))

    within("actions_quarantine_rate", 0.0, gate.max_quarantine_rate)
    within("items_quarantine_rate", 0.0, gate.max_quarantine_rate)
    if prices_required:
        within("null_price_rate", 0.0, gate.max_null_rate)
    within("unknown_item_rate", 0.0, gate.max_null_rate)
    if previous:
        for metric in ("accepted_rows", "distinct_users", "distinct_items"):
            prev = previous.get(metric)
            if prev:
                within(metric, prev * (1 - gate.max_row_change), prev * (1 + gate.max_row_change))
        for a in ACTIONS:
            prev = previous.get(f"share_{a}")
            if prev is not None:
                within(f"share_{a}", max(0.0, prev - gate.max_action_share_change),
                       min(1.0, prev + gate.max_action_share_change))
    return breaches


# What decides each quarantine reason, for the gate's message when one fills the quarantine.
REASON_CAUSES = {
    "stale_timestamp": "older than the history kept, validation.horizon_days = {horizon_days} days and the label "
                       "windows' {windows_days} before the run date's end (to keep them: --set "
                       "validation.horizon_days=<days>)",
    "future_timestamp": "after the run date's end (check --run-date and input.ts_unit)",
    "bad_timestamp": "times that do not parse as input.ts_unit = {ts_unit} (check the ts column)",
    "bot_user": "user-days over validation.max_events_per_user_day = {max_events_per_user_day} events",
    "unknown_action": "actions outside the canonical vocabulary (map them with input.action_map)",
    "malformed_line": "a field count that is not the header's (check input.*_delimiter and input.*_columns)",
    "bad_encoding": "bytes that are not {encoding} (check input.encoding)",
    "bad_json": "lines that are not JSON objects (check input.*_format)",
    "null_user_id": "no user id (check input.action_renames)",
    "null_item_id": "no item id (check input.action_renames or input.item_renames)",
    "bad_price": "prices that are not numbers in (0, validation.max_price = {max_price:g}]",
    "bad_active": "active flags that are not yes/no words such as true/false, yes/no, 1/0 "
                  "(check which column input.item_renames maps to active)",
}


def quarantine_causes(breaches: list[tuple[str, float, float, float]], reasons: list[tuple[str, str, int]],
                      validation: ValidationConf, ts_unit: str, encoding: str, windows_days: int) -> list[str]:
    """For each input whose quarantine rate breached the gate, its most frequent reason,
    how many rows it holds and what decides it (`reasons`: (source, reason, rows);
    `windows_days`: `Config.windows_days`)."""
    values = {"ts_unit": ts_unit, "encoding": encoding, "windows_days": windows_days, **vars(validation)}
    out = []
    for metric, *_ in breaches:
        source = metric.removesuffix("_quarantine_rate")
        rows = [(n, reason) for s, reason, n in reasons if s == source]
        if source == metric or not rows:
            continue
        n, reason = max(rows)
        cause = REASON_CAUSES.get(reason, "").format(**values)
        out.append(f"{source}: {n:,} rows quarantined as {reason}" + (f", {cause}" if cause else ""))
    return out


def profile_frame(spark, run_date: dt.date, profile: dict[str, float]) -> DataFrame:
    from shoprank.schemas import DATA_PROFILE

    return spark.createDataFrame([(run_date, k, float(v)) for k, v in sorted(profile.items())], DATA_PROFILE)
