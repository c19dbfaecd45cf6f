"""Recall source `segment_popular`: what is popular among users like this one. Users
are clustered by Spark MLlib K-means over what they do (activity, purchase share, and
their shares of the shop's `segment_categories` largest categories); each segment's
most popular recent items are its members' candidates (each member's down to the
`per_source`-th it never had). It gives users with little history more than the global
chart."""

from __future__ import annotations

from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.materialise import materialise
from shoprank.recall import RecallInputs, chart_heads, ranked_chart


def user_vectors(history: DataFrame, categories: list[str]) -> DataFrame:
    shares = [F.avg((F.col("category") == c).cast("double")).alias(f"c{i}") for i, c in enumerate(categories)]
    stats = history.groupBy("user_id").agg(
        F.log1p(F.count(F.lit(1))).alias("activity"),
        F.avg((F.col("action") == "purchase").cast("double")).alias("buys"), *shares)
    cols = ["activity", "buys", *[f"c{i}" for i in range(len(categories))]]
    return VectorAssembler(inputCols=cols, outputCol="raw").transform(stats).select("user_id", "raw")


def segments(inputs: RecallInputs) -> DataFrame:
    """(user_id, segment) for every user in the history (cached: the caller unpersists)."""
    p = inputs.params
    top = (inputs.history.filter(F.col("category") != "unknown").groupBy("category").count()
           .orderBy(F.desc("count"), "category").limit(p.segment_categories).collect())  # a few names
    # K-means' seeded sampling draws per partition, in the order rows arrive, which after
    # a shuffle varies from run to run: fix both, so a re-run night gets the same segments.
    spark = inputs.history.sparkSession
    parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
    vectors = (user_vectors(inputs.history, [r.category for r in top])
               .repartition(parts, "user_id").sortWithinPartitions("user_id"))
    scaled = StandardScaler(inputCol="raw", outputCol="features").fit(vectors).transform(vectors).cache()
    k = max(1, min(p.segments, scaled.count()))
    model = KMeans(k=k, seed=p.seed, featuresCol="features", predictionCol="segment").fit(scaled)
    members = model.transform(scaled).select("user_id", "segment").cache()
    members.count()
    scaled.unpersist()
    return members


def candidates(inputs: RecallInputs) -> DataFrame:
    """Materialised here, so the segments can be released."""
    p = inputs.params
    members = segments(inputs)
    pop = (inputs.chart().join(members, "user_id").join(inputs.allowed, "item_id", "left_semi")
           .groupBy("segment", "item_id").agg(F.countDistinct("user_id").alias("users")))
    readers = members.join(inputs.users.select("user_id"), "user_id").select("user_id", F.col("segment").alias("chart"))
    heads = chart_heads(ranked_chart(pop, "segment", "users"), readers, inputs.had(), p.per_source)
    out = materialise(heads.select("user_id", "item_id", F.log1p("users").alias("score")))
    members.unpersist()
    return out
