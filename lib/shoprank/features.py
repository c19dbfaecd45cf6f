"""Features computed as of a cutoff, so training never sees the future.

`user_features` and `item_features` describe the night (tables of the same names).
`pair_features` turns (user, item) candidate pairs into the ranker's inputs as of a
cutoff t from the events before t only: the one code path for the training windows
(t = a window's start), validation and the night's serving (t = the night's end).
"""

from __future__ import annotations

import datetime as dt
import math

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from shoprank.transforms import Transform

ACTION_WEIGHTS = {"view": 1.0, "click": 2.0, "favorite": 3.0, "add_to_cart": 4.0, "purchase": 5.0}
POSITIVE_ACTIONS = ("click", "favorite", "add_to_cart", "purchase")
# A day of absence, on a log scale, for "never": further than any real gap in the horizon.
NEVER_DAYS = 10_000.0


def action_weight() -> Column:
    mapping = F.create_map(*[F.lit(x) for kv in ACTION_WEIGHTS.items() for x in kv])
    return mapping[F.col("action")]


def item_popularity(events: DataFrame) -> DataFrame:
    """Events per (item, category): the one definition of an item's popularity."""
    return events.groupBy("item_id", "category").agg(F.count(F.lit(1)).alias("pop"))


def user_features(run_date: dt.date, top_n: int = 3) -> Transform:
    """Interactions (already windowed) -> USER_FEATURES."""

    def apply(events: DataFrame) -> DataFrame:
        ev = events.withColumn("w", action_weight())
        per_cat = ev.groupBy("user_id", "category").agg(F.sum("w").alias("cw"))
        total = Window.partitionBy("user_id")
        ranked = per_cat.withColumn("share", F.col("cw") / F.sum("cw").over(total)).withColumn(
            "r", F.row_number().over(total.orderBy(F.col("cw").desc(), "category")))
        affinity = ranked.groupBy("user_id").agg(
            F.map_from_entries(F.collect_list(F.struct("category", "share"))).alias("category_affinity"),
            F.transform(F.array_sort(F.collect_list(F.when(F.col("r") <= top_n, F.struct("r", "category")))),
                        lambda s: s["category"]).alias("top_categories"),
        )
        stats = ev.groupBy("user_id").agg(
            F.count(F.lit(1)).alias("n_events"),
            F.sum((F.col("action") == "purchase").cast("long")).alias("n_purchases"),
            F.avg(F.log1p("price")).alias("mean_log_price"),
        )
        return stats.join(affinity, "user_id").select(
            F.lit(run_date).alias("run_date"), "user_id", "n_events", "n_purchases",
            "mean_log_price", "category_affinity", "top_categories")

    return apply


def item_features(run_date: dt.date, items: DataFrame) -> Transform:
    """Interactions (already windowed) -> ITEM_FEATURES for every catalogue item."""

    def apply(events: DataFrame) -> DataFrame:
        stats = events.groupBy("item_id").agg(
            F.count(F.lit(1)).alias("n_events"),
            F.countDistinct("user_id").alias("n_users"),
            F.sum((F.col("action") == "purchase").cast("long")).alias("n_purchases"),
            F.sum((F.col("action") == "view").cast("long")).alias("n_views"),
        )
        return items.select("item_id", "category", "brand", "price").join(stats, "item_id", "left").select(
            F.lit(run_date).alias("run_date"), "item_id", "category", "brand", "price",
            F.coalesce("n_events", F.lit(0)).cast("long").alias("n_events"),
            F.coalesce("n_users", F.lit(0)).cast("long").alias("n_users"),
            (F.coalesce("n_purchases", F.lit(0)) / F.greatest(F.coalesce("n_views", F.lit(0)), F.lit(1)))
            .cast("double").alias("conversion"),
        )

    return apply


# --------------------------------------------------------------- pair features
ITEM_FEATURES = ("log_pop_1d", "log_pop_7d", "log_pop_30d", "log_pop_all", "trend_7d_30d", "log_users_30d",
                 "buy_rate", "log_item_age", "log_item_idle", "log_price", "price_pct_in_category",
                 "price_known")
USER_FEATURES = ("log_user_events", "log_user_items", "log_user_idle", "price_gap")
PAIR_FEATURES = ("category_share", "log_category_idle", "n_sources")
TEXT_FEATURES = ("interest_cosine", "last_item_cosine")


def feature_names(sources: tuple[str, ...], with_text: bool) -> tuple[str, ...]:
    """The ranker's numeric inputs, in order: for each recall source its score and
    inverse rank (1 / (offset + rank); 0 when it did not propose the item), then item,
    user and pair features (and text similarities when item text is embedded)."""
    per_source = tuple(f"{kind}_{s}" for s in sources for kind in ("score", "inv_rank"))
    return per_source + ITEM_FEATURES + USER_FEATURES + PAIR_FEATURES + (TEXT_FEATURES if with_text else ())


def _log_days(later: Column, earlier: Column) -> Column:
    """log1p of the days between two timestamps; NEVER_DAYS when there is no earlier."""
    days = (later.cast("double") - earlier.cast("double")) / 86_400.0
    return F.log1p(F.coalesce(F.greatest(days, F.lit(0.0)), F.lit(NEVER_DAYS)))


def item_stats(events: DataFrame, t: dt.datetime) -> DataFrame:
    """Per item, as of t: popularity over 1, 7, 30 days and all the horizon, its trend,
    recent users, a smoothed purchase rate, age and idle time."""
    since = lambda days: F.col("ts") >= F.lit(t - dt.timedelta(days=days))  # noqa: E731
    stats = events.groupBy("item_id").agg(
        F.count_if(since(1)).alias("p1"), F.count_if(since(7)).alias("p7"), F.count_if(since(30)).alias("p30"),
        F.count(F.lit(1)).alias("pall"), F.countDistinct(F.when(since(30), F.col("user_id"))).alias("u30"),
        F.count_if(F.col("action") == "purchase").alias("buys"), F.min("ts").alias("first"), F.max("ts").alias("last"))
    return stats.select(
        "item_id",
        F.log1p("p1").alias("log_pop_1d"), F.log1p("p7").alias("log_pop_7d"), F.log1p("p30").alias("log_pop_30d"),
        F.log1p("pall").alias("log_pop_all"),
        F.log((F.col("p7") / 7.0 + 0.1) / (F.col("p30") / 30.0 + 0.1)).alias("trend_7d_30d"),
        F.log1p("u30").alias("log_users_30d"),
        ((F.col("buys") + 0.1) / (F.col("pall") + 10.0)).alias("buy_rate"),  # shrunk towards 1%
        _log_days(F.lit(t), F.col("first")).alias("log_item_age"),
        _log_days(F.lit(t), F.col("last")).alias("log_item_idle"))


def price_positions(items: DataFrame) -> DataFrame:
    """Per catalogue item: log price and its percentile within the category."""
    w = Window.partitionBy("category").orderBy("price")
    priced = items.filter(F.col("price").isNotNull() & ~F.col("price_filled"))
    pct = priced.select("item_id", F.percent_rank().over(w).alias("price_pct_in_category"))
    return items.select("item_id", "category", F.log1p("price").alias("log_price")).join(pct, "item_id", "left")


def user_stats(events: DataFrame, t: dt.datetime) -> DataFrame:
    return events.groupBy("user_id").agg(
        F.log1p(F.count(F.lit(1))).alias("log_user_events"),
        F.log1p(F.countDistinct("item_id")).alias("log_user_items"),
        _log_days(F.lit(t), F.max("ts")).alias("log_user_idle"),
        F.avg(F.log1p("price")).alias("user_log_price"),
        F.count(F.lit(1)).alias("_user_n"))


def user_category_stats(events: DataFrame, t: dt.datetime) -> DataFrame:
    return events.groupBy("user_id", "category").agg(
        F.count(F.lit(1)).alias("_cat_n"), _log_days(F.lit(t), F.max("ts")).alias("log_category_idle"))


def cosine(a: Column, b: Column) -> Column:
    """Dot product of two unit vectors held as arrays (0 when either is missing)."""
    dot = F.aggregate(F.zip_with(a, b, lambda x, y: x * y), F.lit(0.0), lambda acc, x: acc + x)
    return F.coalesce(dot, F.lit(0.0))


def pair_features(events: DataFrame, catalogue: DataFrame, t: dt.datetime, sources: tuple[str, ...],
                  rank_offset: float, interests: DataFrame | None = None, vectors: DataFrame | None = None
                  ) -> Transform:
    """(user_id, item_id, source_scores, source_ranks, ...) -> the same rows plus
    `category` and `features` (an array in `feature_names` order), from the events
    before t; a source's rank r enters as 1 / (rank_offset + r). `interests` (user_id,
    interest, last_vector) and `vectors` (item_id, vector) add the text similarities."""

    def apply(pairs: DataFrame) -> DataFrame:
        pairs = pairs.drop("category")  # the catalogue's, joined below
        scores = [c for s in sources for c in (
            F.coalesce(F.col("source_scores")[s], F.lit(0.0)),
            F.coalesce(1.0 / (F.col("source_ranks")[s].cast("double") + rank_offset), F.lit(0.0)))]
        joined = (pairs.join(item_stats(events, t), "item_id", "left")
                  .join(price_positions(catalogue), "item_id", "left")
                  .join(user_stats(events, t), "user_id", "left")
                  .join(user_category_stats(events, t), ["user_id", "category"], "left"))
        zero = F.lit(0.0)
        never = F.lit(math.log1p(NEVER_DAYS))
        item = [F.coalesce(F.col(c), zero) for c in ITEM_FEATURES[:7]] + [
            F.coalesce(F.col("log_item_age"), never), F.coalesce(F.col("log_item_idle"), never),
            F.coalesce(F.col("log_price"), zero), F.coalesce(F.col("price_pct_in_category"), F.lit(0.5)),
            F.col("price_pct_in_category").isNotNull().cast("double")]
        user = [F.coalesce(F.col("log_user_events"), zero), F.coalesce(F.col("log_user_items"), zero),
                F.coalesce(F.col("log_user_idle"), never),
                F.coalesce(F.abs(F.col("log_price") - F.col("user_log_price")), zero)]
        pair = [F.coalesce(F.col("_cat_n") / F.col("_user_n"), zero), F.coalesce(F.col("log_category_idle"), never),
                F.size(F.map_keys("source_scores")).cast("double")]
        values = scores + item + user + pair
        if interests is not None and vectors is not None:
            joined = joined.join(interests, "user_id", "left").join(vectors, "item_id", "left")
            values += [cosine(F.col("interest"), F.col("vector")), cosine(F.col("last_vector"), F.col("vector"))]
        return joined.select(*pairs.columns, F.coalesce("category", F.lit("unknown")).alias("category"),
                             F.array(*[v.cast("float") for v in values]).alias("features"))

    return apply
