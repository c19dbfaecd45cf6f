"""Recall, the first stage: candidates per user from several sources, merged.

A source is one module with `candidates(inputs) -> DataFrame[user_id, item_id, score]`
(higher is better by that source's account), computed from what happened before
`inputs.end` only: the same code gives the candidates of a training window (as of its
start) and of the night (as of its end). `merge` keeps each source's best
`per_source` items per user after removing what must not be recommended, and records
every source's score and rank for the pair: the ranker's features, and each source
scored alone in the backtest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from shoprank.config import CandidatesConf
from shoprank.transforms import in_window


@dataclass(frozen=True)
class RecallInputs:
    history: DataFrame  # interactions before `end` (the night's horizon)
    users: DataFrame  # user_id, top_categories, category_affinity: the users to recall for
    allowed: DataFrame  # item_id: what may be recommended
    end: dt.datetime
    params: CandidatesConf
    vectors: DataFrame | None = None  # item_id, vector: item text embeddings, when on
    interests: DataFrame | None = None  # user_id, interest, last_vector: from those embeddings
    chart_since: dt.datetime | None = None  # where popularity charts start (`chart_start`)
    # (user_id, item_id): the distinct pairs of `history`, which every chart source and the
    # merge's exclusion read; the caller computes them once (None: each reader derives them)
    touched: DataFrame | None = None

    def had(self) -> DataFrame:
        """(user_id, item_id): each pair the user interacted with before `end`, once."""
        return self.touched if self.touched is not None else touched_pairs(self.history)

    def recent(self, days: int) -> DataFrame:
        return self.history.transform(in_window(self.end - dt.timedelta(days=days), self.end))

    @property
    def chart_from(self) -> dt.datetime:
        """Where popularity charts start: `chart_since`, else `popular_days` back."""
        return self.chart_since or self.end - dt.timedelta(days=self.params.popular_days)

    @property
    def chart_days(self) -> float:
        """The length of the popularity charts' window, in days."""
        return (self.end - self.chart_from).total_seconds() / 86_400

    def chart(self) -> DataFrame:
        """The events popularity charts count."""
        return self.history.transform(in_window(self.chart_from, self.end))


def touched_pairs(history: DataFrame) -> DataFrame:
    return history.select("user_id", "item_id").distinct()


def chart_start(history: DataFrame, end: dt.datetime, days: int, min_events: int) -> dt.datetime:
    """Where popularity charts as of `end` start (a named step: one action): `days` back,
    or further, at the `min_events`-th latest event, when those days hold fewer events
    (the whole history when it holds fewer)."""
    start = end - dt.timedelta(days=days)
    if not min_events:
        return start
    # in epoch microseconds: collected timestamps come back in the driver's local time
    latest = F.unix_micros(F.col("ts")).alias("us")
    row = (history.filter(F.col("ts") < F.lit(end)).select(latest).orderBy(F.col("us").desc()).limit(min_events)
           .agg(F.min("us").alias("us")).first())
    if row.us is None:
        return start
    return min(start, dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=row.us))


Source = Callable[[RecallInputs], DataFrame]


def sources(params: CandidatesConf, with_text: bool) -> dict[str, Source]:
    """The enabled recall sources by name, in merge order."""
    from shoprank.recall import (
        als,
        category_popular,
        content,
        covisit,
        ease,
        item_knn,
        neighbours,
        popular,
        returning,
        segment_popular,
        transitions,
        trending,
    )

    every = {"covisit": covisit.candidates, "transitions": transitions.candidates, "item_knn": item_knn.candidates,
             "ease": ease.candidates, "neighbours": neighbours.candidates, "als": als.candidates,
             "category_popular": category_popular.candidates, "trending": trending.candidates,
             "segment_popular": segment_popular.candidates, "popular": popular.candidates,
             "returning": returning.candidates,
             "content": content.candidates}
    enabled = [s for s in params.sources if s != "content" or with_text]
    return {name: every[name] for name in enabled}


def top_per_user(scored: DataFrame, n: int) -> DataFrame:
    """The n best (user, item) rows of one source, with their 1-based rank. Ranked on the
    score at single precision, then the item: a score summed by a Spark aggregation
    (item-kNN's) can differ in its last bits from run to run, and two nearly equal scores
    must not swap places when a night is re-run."""
    w = Window.partitionBy("user_id").orderBy(F.col("score").cast("float").desc(), "item_id")
    return scored.withColumn("rank", F.row_number().over(w)).filter(F.col("rank") <= n)


def chart_heads(charts: DataFrame, readers: DataFrame, had: DataFrame, n: int) -> DataFrame:
    """Each (user, chart) of `readers` (user_id, chart, ...) with the chart's rows down to
    the `n`-th item the user never touched (`had`: distinct user_id, item_id pairs):
    (chart, rank, readers' other columns, charts' other columns). `charts`: (chart, item_id, rank), rank 1, 2, ... within
    each chart. A chart is the same for all its readers and `merge` drops what a user had,
    so a fixed head of n would leave a heavy user few of its items (ml-latest-small's users
    scored had touched 33 of the chart's first 50 on average); every reader reads as deep
    as it skips. The i-th touched item of a chart, at rank r, precedes r - i untouched
    ones: it is skipped within the head when r - i < n. Rows: n per reader plus the items
    skipped, linear in the history."""
    at = (had.join(charts.select("chart", "item_id", "rank"), "item_id")
          .join(readers.select("user_id", "chart"), ["user_id", "chart"], "left_semi"))
    i = F.row_number().over(Window.partitionBy("user_id", "chart").orderBy("rank"))
    skips = (at.withColumn("i", i).filter(F.col("rank") - F.col("i") < n)
             .groupBy("user_id", "chart").agg(F.count(F.lit(1)).alias("skips")))
    depth = F.sequence(F.lit(1), F.lit(n) + F.coalesce("skips", F.lit(0)))
    return (readers.join(skips, ["user_id", "chart"], "left").withColumn("rank", F.explode(depth)).drop("skips")
            .join(charts, ["chart", "rank"]))


def ranked_chart(scored: DataFrame, key: str | None, by: str) -> DataFrame:
    """`scored` (item_id, [key], by, ...) as charts for `chart_heads`: `chart` the key (0
    for one chart), `rank` 1, 2, ... by `by` descending, then item."""
    chart = F.col(key) if key else F.lit(0)
    w = Window.partitionBy(chart).orderBy(F.col(by).desc(), "item_id")
    return scored.withColumn("chart", chart).withColumn("rank", F.row_number().over(w))


def merge(run_date: dt.date, per_source: dict[str, DataFrame], n: int, exclude: DataFrame | None,
          allowed: DataFrame | None = None) -> DataFrame:
    """Sources -> CANDIDATES: each source's top n per user (after exclusions), one row per
    (user, item) with every source's score and rank, and the sum of their scores."""
    ranked = []
    for name, scored in per_source.items():
        if exclude is not None:
            scored = scored.join(exclude, ["user_id", "item_id"], "left_anti")
        if allowed is not None:
            scored = scored.join(allowed, "item_id", "left_semi")
        ranked.append(top_per_user(scored.select("user_id", "item_id", F.col("score").cast("double")), n)
                      .withColumn("source", F.lit(name)))
    allc = ranked[0]
    for r in ranked[1:]:
        allc = allc.unionByName(r)
    return allc.groupBy("user_id", "item_id").agg(
        F.array_sort(F.collect_list("source")).alias("sources"),
        F.sum("score").alias("recall_score"),
        F.map_from_entries(F.collect_list(F.struct("source", "score"))).alias("source_scores"),
        F.map_from_entries(F.collect_list(F.struct("source", F.col("rank").cast("int")))).alias("source_ranks"),
    ).select(F.lit(run_date).alias("run_date"), "user_id", "item_id", "sources", "recall_score",
             "source_scores", "source_ranks")
