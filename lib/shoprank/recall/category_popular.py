"""Recall source `category_popular`: the most popular recent items of each user's top
categories, each user's down to the `per_source`-th item of each they never had. An item
scores its probability under "the user picks one of their categories by its share of
their (action-weighted) events, then an item by its share of that category's recent
users": share x users / category users. The categories' charts interleave by how much
the user cares for each and how popular each item is within its own; dividing a chart's
item popularity by the category's place (1, 2, 3) instead let the first category's long
tail crowd out the second's best once each chart was read past what the user had
(`bench/RESULTS.md`, "The categories' charts, mixed")."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs, chart_heads, ranked_chart


def candidates(inputs: RecallInputs) -> DataFrame:
    p = inputs.params
    chart = inputs.chart().filter(F.col("category") != "unknown")
    size = chart.groupBy("category").agg(F.countDistinct("user_id").alias("category_users"))
    pop = (chart.join(inputs.allowed, "item_id", "left_semi")
           .groupBy("item_id", "category").agg(F.countDistinct("user_id").alias("users")).join(size, "category"))
    user_cats = inputs.users.select("user_id", F.explode("top_categories").alias("chart"), "category_affinity").select(
        "user_id", "chart", F.col("category_affinity")[F.col("chart")].alias("share"))
    heads = chart_heads(ranked_chart(pop, "category", "users"), user_cats, inputs.had(), p.per_source)
    score = F.col("share") * F.col("users") / F.col("category_users")
    return heads.select("user_id", "item_id", score.alias("score"))
