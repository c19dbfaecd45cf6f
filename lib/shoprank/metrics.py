"""What users get: top-K lists scored against what each user did next.

Inputs (all Spark frames; nothing per user reaches the driver):
- lists: (user_id, item_id, rank), rank 1..K; a user may have a shorter list or none;
- truth: (user_id, item_id), the new items each evaluated user interacted with;
- users: (user_id, segment), the evaluated users, each in an activity segment;
- items: (item_id, category, users_before), for diversity and novelty.

Per user, with hits h_r (1 when the item at rank r is in the truth) and R = |truth|:
HR = 1 if any hit; Precision = hits / K; Recall = hits / R;
NDCG = sum h_r / log2(r + 1) over ideal sum_{i <= min(R, K)} 1 / log2(i + 1);
MAP (average precision) = sum_r h_r * hits_up_to_r / r, over min(R, K);
diversity = share of pairs in the list whose categories differ (lists of 2 or more);
novelty = mean of -log2((users_before + 1) / (population + 1)) over the list.
A user without a list scores 0 on the accuracy metrics and is left out of diversity and
novelty. Coverage = distinct listed items / catalogue size, over the evaluated users.
"""

from __future__ import annotations

import math

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ACCURACY = ("hr", "ndcg", "recall", "precision", "map")
BEYOND = ("diversity", "novelty")


def per_user(lists: DataFrame, truth: DataFrame, users: DataFrame, items: DataFrame, k: int,
             population: int) -> DataFrame:
    """(user_id, segment, hr, ndcg, recall, precision, map, diversity, novelty)."""
    top = lists.filter(F.col("rank") <= k).join(users.select("user_id"), "user_id", "left_semi")
    rel = truth.select("user_id", "item_id", F.lit(1).alias("rel"))
    surprise = -F.log2((F.coalesce("users_before", F.lit(0)) + 1.0) / (population + 1.0))
    listed = (top.join(rel, ["user_id", "item_id"], "left")
              .join(items.select("item_id", "category", "users_before"), "item_id", "left")
              .withColumn("rel", F.coalesce("rel", F.lit(0)))
              .withColumn("category", F.coalesce("category", F.lit("unknown"))))
    # Average precision needs the hits before each rank: a fold over the rank-sorted list.
    ap_fold = F.aggregate(
        F.array_sort(F.collect_list(F.struct("rank", "rel"))),
        F.struct(F.lit(0).alias("hits"), F.lit(0.0).alias("ap")),
        lambda acc, x: F.struct((acc["hits"] + x["rel"]).alias("hits"),
                                (acc["ap"] + F.when(x["rel"] == 1, (acc["hits"] + 1) / x["rank"])
                                 .otherwise(0.0)).alias("ap")))
    per_list = listed.groupBy("user_id").agg(
        F.sum(F.col("rel") / F.log2(F.col("rank") + 1)).alias("dcg"),
        F.sum("rel").alias("hits"),
        ap_fold["ap"].alias("ap_sum"),
        F.count(F.lit(1)).alias("n"),
        F.avg(surprise).alias("novelty"),
    )
    same_pairs = (listed.groupBy("user_id", "category").count()
                  .groupBy("user_id").agg(F.sum(F.col("count") * (F.col("count") - 1)).alias("same")))
    n_rel = truth.groupBy("user_id").agg(F.count(F.lit(1)).alias("n_rel"))
    ideal = F.aggregate(F.sequence(F.lit(1), F.least(F.col("n_rel"), F.lit(k))), F.lit(0.0),
                        lambda acc, i: acc + 1.0 / F.log2(i + 1))
    hits = F.coalesce("hits", F.lit(0))
    return (users.join(n_rel, "user_id").join(per_list, "user_id", "left").join(same_pairs, "user_id", "left")
            .select("user_id", "segment",
                    F.when(hits > 0, 1.0).otherwise(0.0).alias("hr"),
                    (F.coalesce("dcg", F.lit(0.0)) / ideal).alias("ndcg"),
                    (hits / F.col("n_rel")).alias("recall"),
                    (hits / F.lit(float(k))).alias("precision"),
                    (F.coalesce("ap_sum", F.lit(0.0)) / F.least(F.col("n_rel"), F.lit(k))).alias("map"),
                    F.when(F.col("n") >= 2, 1.0 - F.col("same") / (F.col("n") * (F.col("n") - 1)))
                    .alias("diversity"),
                    F.col("novelty")))


def summarize(scored: DataFrame) -> dict[str, dict[str, float]]:
    """Means per segment and over all users: {segment: {metric: value, "users": n}}.
    One small aggregate per segment reaches the driver. An action."""
    aggs = [F.avg(m).alias(m) for m in ACCURACY + BEYOND] + [F.count(F.lit(1)).alias("users")]
    out = {}
    for r in scored.groupBy("segment").agg(*aggs).collect() + [
            scored.agg(*aggs).withColumn("segment", F.lit("all")).collect()[0]]:
        if r["users"]:
            out[r["segment"]] = {m: (float(r[m]) if r[m] is not None else math.nan) for m in ACCURACY + BEYOND}
            out[r["segment"]]["users"] = int(r["users"])
    return out


def coverage(lists: DataFrame, users: DataFrame, k: int, catalogue_size: int) -> float:
    """Distinct items in the evaluated users' top-k lists over the catalogue size. An action."""
    listed = (lists.filter(F.col("rank") <= k).join(users.select("user_id"), "user_id", "left_semi")
              .select("item_id").distinct().count())
    return listed / catalogue_size if catalogue_size else math.nan


def candidate_recall(candidates: DataFrame, truth: DataFrame, users: DataFrame) -> DataFrame:
    """Per user, the share of their truth items that the candidate set holds:
    (user_id, segment, recall); a user without candidates has 0."""
    held = truth.join(candidates.select("user_id", "item_id"), ["user_id", "item_id"], "left_semi")
    found = held.groupBy("user_id").agg(F.count(F.lit(1)).alias("found"))
    n_rel = truth.groupBy("user_id").agg(F.count(F.lit(1)).alias("n_rel"))
    return (users.join(n_rel, "user_id").join(found, "user_id", "left")
            .select("user_id", "segment", (F.coalesce("found", F.lit(0)) / F.col("n_rel")).alias("recall")))
