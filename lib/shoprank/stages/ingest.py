"""Stage `ingest`: raw logs -> items, interactions, quarantine, data_profile, run_audit.

Two passes over the raw actions, nothing cached but the small item table:
1. count the input, flag bot-like user-days, deduplicate the valid rows, join
   items and stage `interactions`, counting and profiling on the way (observed);
2. flag the bots pass 1 found and stage every rejected row to `quarantine`.
Re-reading and re-parsing the input costs less than caching it (bench-etl).

Every table is staged first and committed only once the night reconciles: a
night whose ingest fails part way (unreadable input, a lost row, a crash) leaves
every table as it was, and the rerun writes it whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank import ingest, quality
from shoprank.audit import HELD_OUT, count_summary, outcome_counts, reconcile
from shoprank.config import InputConf
from shoprank.errors import ConfigError, ReconciliationError
from shoprank.night import Night, stage
from shoprank.observe import Observed, observe_all
from shoprank.schemas import BOT_DAYS, RUN_AUDIT
from shoprank.storage.sources import InputSpec, read_input

log = logging.getLogger("shoprank")
ACTION_COLUMNS = ("user_id", "item_id", "action", "ts")
ITEM_COLUMNS = ("item_id", "category", "brand", "price", "title", "description", "updated_at", "active")


def action_input(cfg: InputConf) -> InputSpec:
    return InputSpec(cfg.actions_path, cfg.actions_format, ACTION_COLUMNS, ACTION_COLUMNS, cfg.action_renames,
                     cfg.actions_header, cfg.actions_columns, cfg.actions_delimiter, cfg.encoding)


def item_input(cfg: InputConf) -> InputSpec:
    return InputSpec(cfg.items_path, cfg.items_format, ITEM_COLUMNS, ("item_id",), cfg.item_renames,
                     cfg.items_header, cfg.items_columns, cfg.items_delimiter, cfg.encoding)


def raw_actions(night: Night) -> DataFrame:
    i = night.cfg.input
    df = read_input(night.spark, action_input(i))
    if i.pseudonymize_users:
        key = os.environ.get("SHOPRANK_PSEUDONYM_KEY")
        if not key:
            raise ConfigError("input.pseudonymize_users is on but $SHOPRANK_PSEUDONYM_KEY is not set "
                              "(the key is never read from a config file)")
        df = df.transform(ingest.pseudonymize_users(key))
    return df


def raw_items(night: Night) -> DataFrame:
    return read_input(night.spark, item_input(night.cfg.input))


@dataclass(frozen=True)
class InteractionsPass:
    """Pass 1 of ingest: the plan that writes `interactions`, and what it observes."""

    df: DataFrame
    inputs: Observed
    bots: Observed
    duplicates: Observed
    profile: Observed

    @property
    def observed(self) -> list[Observed]:
        return [self.inputs, self.bots, self.duplicates, self.profile]


def interactions_pass(validated: DataFrame, items: DataFrame, run_date: dt.date, max_events_per_user_day: int,
                      near_dup_seconds: int) -> InteractionsPass:
    """Validated actions -> interactions: count the input, keep the valid rows, flag
    bot-like user-days, deduplicate, join the items. One parse and one shuffle."""
    # The raw line and file serve quarantine rows only, so they stay out of the shuffle.
    narrow = validated.select("user_id", "item_id", "action", "ts", "event_date", "extra", "reason", "detail")
    # The observation also keeps the filter below where it is: pushed through the
    # validation's projection, it would repeat the parse once per field (20x slower).
    inputs = Observed(narrow, {"input_rows": F.count(F.lit(1)), HELD_OUT: F.count_if(F.col("reason") == HELD_OUT)})
    flagged = inputs.df.filter(F.col("reason").isNull()).transform(ingest.flag_bot_days(max_events_per_user_day))
    bots = Observed(flagged, ingest.bot_summary())
    deduped = bots.df.filter(F.col("reason").isNull()).transform(ingest.flag_duplicates(near_dup_seconds))
    dups = Observed(deduped, ingest.duplicate_counts())
    joined = dups.df.filter(F.col("reason").isNull()).transform(ingest.join_items(items, run_date))
    profile = Observed(joined, quality.profile_aggregates())
    return InteractionsPass(profile.df, inputs, bots, dups, profile)


def quarantine_rows(validated: DataFrame, items: DataFrame, bot_days: DataFrame, run_date: dt.date) -> DataFrame:
    """Pass 2 of ingest: every rejected row of both inputs, bots included (their user-days
    found by pass 1, broadcast)."""
    actions = validated.transform(ingest.flag_bots(F.broadcast(bot_days)))
    # The filter sits after the bot join: right after validation, Spark would push it
    # into the parse and repeat the parse once per field.
    return (actions.filter(ingest.is_quarantined()).transform(ingest.to_quarantine("actions", run_date))
            .unionByName(items.filter(ingest.is_quarantined()).transform(ingest.to_quarantine("items", run_date))))


def run(night: Night) -> dict:
    cfg, rd = night.cfg, night.run_date
    w, cap = night.windows, cfg.validation.max_events_per_user_day
    with stage(night, "ingest"), night.tables.batch(rd, night.run_version) as batch:
        validated = (raw_actions(night)
                     .transform(ingest.map_actions(cfg.input.action_map))
                     .transform(ingest.validate_actions(w.end, w.kept_start, cfg.input.ts_unit, night.backtest)))
        items = (raw_items(night)
                 .transform(ingest.validate_items(cfg.validation.max_price, w.end if night.backtest else None))
                 .transform(ingest.flag_superseded_items)
                 .persist(StorageLevel.MEMORY_AND_DISK))
        item_outcomes = outcome_counts(items)
        clean = items.filter(F.col("reason").isNull()).transform(
            ingest.clean_items(rd, cfg.input.category_separator))
        staged_items = batch.stage(clean, "items")

        first = interactions_pass(validated, batch.frame(staged_items), rd, cap, cfg.validation.near_dup_seconds)
        staged_interactions = batch.stage(first.df, "interactions")
        observe_all(first.df, first.observed, ran=not staged_interactions.skipped)
        bots = first.bots.result
        bot_list = ingest.bot_days_rows(bots)
        log.info("bot-like user-days: %d (%d rows)", len(bot_list), bots["bot_rows"])

        bot_days = night.spark.createDataFrame(bot_list, BOT_DAYS)
        staged_quarantine = batch.stage(quarantine_rows(validated, items, bot_days, rd), "quarantine")
        # The actions' quarantine outcomes as staged, read back from the files.
        outcomes = outcome_counts(batch.frame(staged_quarantine).filter(F.col("source") == "actions"))
        outcomes.update(first.duplicates.result)
        outcomes[HELD_OUT] = first.inputs.result[HELD_OUT]
        counts = {"actions": count_summary(outcomes, input_rows=first.inputs.result["input_rows"]),
                  "items": count_summary(item_outcomes)}
        log.info("ingest outcomes: %s", {"actions": outcomes, "items": item_outcomes})

        audit, problems = reconcile(rd, counts, {"actions": staged_interactions, "items": staged_items},
                                    staged_quarantine)
        if outcomes.get("bot_user", 0) != bots["bot_rows"]:
            problems.append(f"bots: pass 1 flagged {bots['bot_rows']} rows, quarantine holds "
                            f"{outcomes.get('bot_user', 0)}")
        items.unpersist()
        if problems:
            raise ReconciliationError("run does not reconcile, nothing committed: " + "; ".join(problems))
        profile = quality.as_profile(first.profile.result)
        profile.update(quality.profile_counts(counts))
        batch.stage(quality.profile_frame(night.spark, rd, profile), "data_profile")
        # The audit commits last: its row for the run date marks the night ingested.
        batch.stage(night.spark.createDataFrame(audit, RUN_AUDIT), "run_audit")
        batch.commit()
        night.summary["ingest"] = counts
        log.info("ingest: %s", counts)
        return counts


__all__ = ["interactions_pass", "quarantine_rows", "run"]
