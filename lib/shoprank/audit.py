"""Counting a night's ingest outcomes and reconciling them: per input,
input = accepted + quarantined + duplicates + held out, where `accepted` is what was
written. Rows are held out only in a backtest: those after the night's cutoff."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ACCEPTED = "accepted"
DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate", "superseded")
HELD_OUT = "after_cutoff"
NOT_QUARANTINED = (*DUPLICATE_REASONS, HELD_OUT)


class Written(Protocol):
    rows: int
    skipped: bool


def outcome_counts(flagged: DataFrame) -> dict[str, int]:
    """Rows per outcome: ACCEPTED for rows without a reason, else the reason. An action."""
    outcome = F.coalesce(F.col("reason"), F.lit(ACCEPTED)).alias("outcome")
    return {r.outcome: r["count"] for r in flagged.groupBy(outcome).count().collect()}


def count_summary(outcomes: dict[str, int], input_rows: int | None = None) -> dict[str, int]:
    """Outcomes -> the audit's counts. `input_rows` defaults to the sum of the outcomes;
    given, it comes from another pass over the input, and reconciliation checks the
    two agree."""
    duplicates = {k: v for k, v in outcomes.items() if k in DUPLICATE_REASONS}
    quarantined = {k: v for k, v in outcomes.items() if k != ACCEPTED and k not in NOT_QUARANTINED}
    return {
        "input_rows": sum(outcomes.values()) if input_rows is None else input_rows,
        "accepted": outcomes.get(ACCEPTED, 0),
        "quarantined": sum(quarantined.values()),
        "duplicates": sum(duplicates.values()),
        "exact_duplicates": outcomes.get("exact_duplicate", 0) + outcomes.get("superseded", 0),
        "near_duplicates": outcomes.get("near_duplicate", 0),
        "held_out": outcomes.get(HELD_OUT, 0),
    }


def reconcile(run_date: dt.date, counts: dict[str, dict[str, int]], written: dict[str, Written],
              quarantine: Written) -> tuple[list, list[str]]:
    """Audit rows and problems: per input, input = accepted + quarantined + duplicates,
    where `accepted` is what the table write holds. A write skipped as already
    applied holds what the first run counted."""
    audit, problems = [], []
    for source, c in counts.items():
        wrote = written[source]
        accepted = c["accepted"] if wrote.skipped else wrote.rows
        ok = (c["input_rows"] == accepted + c["quarantined"] + c["duplicates"] + c["held_out"]
              and accepted == c["accepted"])
        audit.append((run_date, source, c["input_rows"], accepted, c["quarantined"], c["exact_duplicates"],
                      c["near_duplicates"], ok, c["held_out"]))
        if not ok:
            problems.append(f"{source}: input {c['input_rows']} != accepted {accepted} + quarantined "
                            f"{c['quarantined']} + duplicates {c['duplicates']} + held out {c['held_out']}")
    expected = sum(c["quarantined"] for c in counts.values())
    if not quarantine.skipped and quarantine.rows != expected:
        problems.append(f"quarantine: wrote {quarantine.rows} rows, expected {expected}")
    return audit, problems
