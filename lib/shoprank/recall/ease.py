"""Recall source `ease`: EASE (Steck 2019), the linear item-item model that is among the
strongest simple recommenders, fit on every (user, item) pair before the cutoff (the
`ease_max_items` most popular items, see `baselines.ease`), as the `ease` baseline is;
a user's items score by the model's weights from every item they had, those items
excluded before the source's top `per_source` is taken.

Unlike the baseline, a user's items do not weigh alike: the r-th most recently touched
(r = 0 the latest) weighs 1 / (1 + r / ease_recent_items), so what a user turned to
lately leads. On the monthly MovieLens nights this lifted the source's NDCG@10 by 23%
(ml-latest-small) and 21% (ML-100k) over binary weights (bench/recency.py); the model
itself is fit on binary pairs as Steck's is.

With `ease_half_life_days` set, a pair weighs by its age instead (the user's last touch
of the item), halving every that many days, a span stretched until it holds
`popular_min_events` events as the charts' window is, so the item-item weights say what
users take together *now* (new releases, this season's goods) while a slow shop's model
still learns from enough pairs. With 14 days it lifted the source's NDCG@10 by 11% on
ML-100k and left it level on ml-latest-small (bench/temporal.py; 14 days unstretched
lost a third there), and in `make eval-ml100k` the source by 10%, but not the published
lists (0.1607 to 0.1563, within noise), so it is off by default."""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.baselines import ease
from shoprank.recall import RecallInputs, chart_start, top_per_user
from shoprank.recall.signals import age_days, recency_rank

log = logging.getLogger(__name__)


def last_touch(history: DataFrame) -> DataFrame:
    """(user_id, item_id, last): each pair once, with the user's last touch of the item:
    the one definition a source's pairs and the weights below are derived from."""
    return history.groupBy("user_id", "item_id").agg(F.max("ts").alias("last"))


def recency_weights(last: DataFrame, half_at: float) -> DataFrame:
    """(user_id, item_id, s) from `last_touch`: 1 / (1 + r / half_at) for a user's r-th
    most recently touched item (r from 0; ties in time by item), so the item at r =
    half_at weighs half the latest. Counting items rather than days suits shops whose
    users come back daily and shops whose users come back yearly alike."""
    return last.select("user_id", "item_id", (1.0 / (1.0 + (recency_rank() - 1) / half_at)).alias("s"))


def age_weights(last: DataFrame, end: dt.datetime, half_life_days: float) -> DataFrame:
    """(user_id, item_id, w) from `last_touch`: 0.5 ** (age / half_life_days), the age in
    days of the user's last touch of the item as of `end`."""
    age = age_days(end, F.col("last"))
    return last.select("user_id", "item_id", F.pow(F.lit(0.5), age / half_life_days).alias("w"))


def half_life(inputs: RecallInputs) -> float:
    """`ease_half_life_days`, or longer: back to the `popular_min_events`-th latest event
    (a named step: one action)."""
    p = inputs.params
    since = chart_start(inputs.history, inputs.end, p.ease_half_life_days, p.popular_min_events)
    return max(p.ease_half_life_days, (inputs.end - since).total_seconds() / 86_400)


def candidates(inputs: RecallInputs) -> DataFrame:
    """Materialised here, so the model's frames can be released."""
    p = inputs.params
    last = last_touch(inputs.history)
    pairs = last.select("user_id", "item_id")
    fit = pairs
    if p.ease_half_life_days:
        days = half_life(inputs)
        log.info("EASE source: pairs' weights halve every %.1f days", days)
        fit = age_weights(last, inputs.end, days)

    def finish(scored: DataFrame) -> DataFrame:
        fresh = scored.join(pairs, ["user_id", "item_id"], "left_anti").join(inputs.allowed, "item_id", "left_semi")
        return top_per_user(fresh, p.per_source).select("user_id", "item_id", "score")

    strength = recency_weights(last, p.ease_recent_items) if p.ease_recent_items else None
    solve = partial(ease.solver, lam=p.ease_lambda, neighbours=p.ease_neighbours)
    return ease.scores(fit, inputs.users.select("user_id"), p.ease_max_items, solve, finish, strength)
