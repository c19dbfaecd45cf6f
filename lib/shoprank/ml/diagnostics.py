"""Ranker diagnostics on validation examples (positives among sampled negatives):
how well the model separates them, not what users get (that is `shoprank.metrics`
on the published lists). Computed in Spark, no collect of per-user rows.

Input rows: (user_id, item_id, label in {0,1}, <score column>). For each user:
- HR@k: 1 if any positive is in the top k.
- NDCG@k: binary-relevance DCG@k / ideal DCG@k.
- AUC: probability a positive outranks a negative (ties count one half),
  from average ranks; users with no negative or no positive are skipped.
Values are means over users. Ties in score are broken by item_id.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def per_user_metrics(scored: DataFrame, score_col: str, k: int) -> DataFrame:
    order = Window.partitionBy("user_id").orderBy(F.col(score_col).desc(), "item_id")
    ranked = scored.withColumn("_pos", F.row_number().over(order))
    # Average ascending rank within ties of the score, for the AUC rank-sum.
    asc = Window.partitionBy("user_id").orderBy(F.col(score_col))
    tie = Window.partitionBy("user_id", score_col)
    ranked = ranked.withColumn("_rank_lo", F.rank().over(asc)).withColumn(
        "_avg_rank", F.col("_rank_lo") + (F.count(F.lit(1)).over(tie) - 1) / 2.0)
    dcg = F.sum(F.when((F.col("label") > 0) & (F.col("_pos") <= k), 1.0 / F.log2(F.col("_pos") + 1)).otherwise(0.0))
    agg = ranked.groupBy("user_id").agg(
        dcg.alias("dcg"),
        F.sum(F.col("label").cast("double")).alias("n_pos"),
        F.count(F.lit(1)).alias("n"),
        F.max(F.when((F.col("label") > 0) & (F.col("_pos") <= k), 1.0).otherwise(0.0)).alias("hit"),
        F.sum(F.when(F.col("label") > 0, F.col("_avg_rank")).otherwise(0.0)).alias("pos_rank_sum"),
    )
    # Ideal DCG for n_pos relevant items: sum_{i=1}^{min(n_pos,k)} 1/log2(i+1).
    idcg = F.aggregate(F.sequence(F.lit(1), F.least(F.col("n_pos").cast("int"), F.lit(k))),
                       F.lit(0.0), lambda acc, i: acc + 1.0 / F.log2(i + 1))
    n_neg = F.col("n") - F.col("n_pos")
    auc = (F.col("pos_rank_sum") - F.col("n_pos") * (F.col("n_pos") + 1) / 2.0) / (F.col("n_pos") * n_neg)
    return agg.filter(F.col("n_pos") > 0).select(
        "user_id",
        F.col("hit").alias("hr"),
        (F.col("dcg") / idcg).alias("ndcg"),
        F.when(n_neg > 0, auc).alias("auc"),
    )


def summarize(per_user: DataFrame, k: int) -> dict[str, float]:
    """One aggregate row -> {metric: value}; an action, called by the evaluate stage."""
    row = per_user.agg(
        F.avg("hr").alias("hr"), F.avg("ndcg").alias("ndcg"), F.avg("auc").alias("auc"),
        F.count(F.lit(1)).alias("n_users")).collect()[0]
    return {f"hr@{k}": row.hr, f"ndcg@{k}": row.ndcg, "auc": row.auc, "n_users": row.n_users}


def logloss(scored: DataFrame, score_col: str) -> float:
    """Mean binary log loss of probabilities in `score_col` against `label`. An action."""
    p = F.least(F.greatest(F.col(score_col), F.lit(1e-7)), F.lit(1 - 1e-7))
    loss = -(F.col("label") * F.log(p) + (1 - F.col("label")) * F.log(1 - p))
    return float(scored.agg(F.avg(loss)).collect()[0][0] or 0.0)
