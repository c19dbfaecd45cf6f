"""The protocol that scores top-K lists against what users did next, shared by the
nightly `evaluate` stage (the list published H days ago) and `shoprank backtest`
(replayed nights and baselines).

For a list published at the end of night D and a horizon H:
- history: the interactions night D saw (up to its end);
- truth: each user's interactions in [end of D, end of D + H days) with items that are
  not in their history (new items only), restricted to `evaluate.relevant_actions`;
- evaluated users: every user with truth and at least one event in the history (a
  user the shop knew), in a segment by their number of events: cold, light, heavy. A
  user without a list is a miss. Users new in the horizon are counted, not scored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank import metrics
from shoprank.config import EvaluateConf
from shoprank.transforms import in_window

SEGMENTS = ("cold", "light", "heavy")


@dataclass(frozen=True)
class Scoring:
    """What every list of one night is scored against."""

    truth: DataFrame  # (user_id, item_id)
    users: DataFrame  # (user_id, segment)
    items: DataFrame  # (item_id, category, users_before)
    population: int  # users in the history
    catalogue_size: int  # items that could be listed
    new_users: int  # users with truth but no history: not scored


def truth(later: DataFrame, history: DataFrame, start: dt.datetime, end: dt.datetime,
          relevant_actions: tuple[str, ...]) -> DataFrame:
    """New (user, item) pairs interacted with in [start, end)."""
    events = later.transform(in_window(start, end))
    if relevant_actions:
        events = events.filter(F.col("action").isin(*relevant_actions))
    return (events.select("user_id", "item_id").distinct()
            .join(history.select("user_id", "item_id"), ["user_id", "item_id"], "left_anti"))


def segments(history: DataFrame, cold_max: int, light_max: int) -> DataFrame:
    """(user_id, segment, events) for every user in the history."""
    n = F.col("events")
    return history.groupBy("user_id").agg(F.count(F.lit(1)).alias("events")).withColumn(
        "segment", F.when(n <= cold_max, "cold").when(n <= light_max, "light").otherwise("heavy"))


def item_stats(history: DataFrame, catalogue: DataFrame) -> DataFrame:
    """(item_id, category, users_before): for diversity and novelty."""
    users = history.groupBy("item_id").agg(F.countDistinct("user_id").alias("users_before"))
    return catalogue.select("item_id", "category").join(users, "item_id", "left")


def prepare(history: DataFrame, later: DataFrame, catalogue: DataFrame, allowed: DataFrame,
            end: dt.datetime, horizon_days: int, conf: EvaluateConf) -> Scoring:
    """The night's truth, evaluated users and item statistics (cached: every list is
    scored against them). Runs small actions (counts)."""
    relevant = truth(later, history, end, end + dt.timedelta(days=horizon_days), conf.relevant_actions).cache()
    segs = segments(history, conf.cold_max_events, conf.light_max_events)
    users = relevant.select("user_id").distinct().join(segs, "user_id").select("user_id", "segment").cache()
    new_users = relevant.select("user_id").distinct().join(segs, "user_id", "left_anti").count()
    scored_truth = relevant.join(users, "user_id", "left_semi").cache()
    scored_truth.count()
    relevant.unpersist()
    return Scoring(scored_truth, users, item_stats(history, catalogue).cache(),
                   history.select("user_id").distinct().count(), allowed.count(), new_users)


def per_user(lists: DataFrame, scoring: Scoring, k: int) -> DataFrame:
    """Each evaluated user's metrics for one set of lists (see `metrics.per_user`)."""
    return metrics.per_user(lists, scoring.truth, scoring.users, scoring.items, k, scoring.population)


def score(lists: DataFrame, scoring: Scoring, k: int, scored: DataFrame | None = None) -> dict[str, dict[str, float]]:
    """{segment: {metric: value, "users": n}}, coverage under "all"; `scored` is the
    lists' `per_user` frame when the caller has it already. Actions."""
    out = metrics.summarize(per_user(lists, scoring, k) if scored is None else scored)
    if "all" in out:
        out["all"]["coverage"] = metrics.coverage(lists, scoring.users, k, scoring.catalogue_size)
    return out


def candidate_recall(candidates: DataFrame, scoring: Scoring) -> dict[str, float]:
    """{segment: mean share of truth items in the candidate set} (with "all"). An action."""
    per_user = metrics.candidate_recall(candidates, scoring.truth, scoring.users)
    rows = per_user.groupBy("segment").agg(F.avg("recall").alias("r")).collect()
    out = {r.segment: float(r.r) for r in rows}
    overall = per_user.agg(F.avg("recall")).collect()[0][0]
    if overall is not None:
        out["all"] = float(overall)
    return out


def release(scoring: Scoring) -> None:
    for df in (scoring.truth, scoring.users, scoring.items):
        df.unpersist()
