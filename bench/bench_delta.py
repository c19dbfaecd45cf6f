"""make bench-delta: 10M-row scores table through the delta-rs engine vs plain Spark
Parquet, then MERGE of 1% changed rows. Prints figures; the last line is
`delta_write_vs_parquet=<parquet_s / delta_s> merge_1pct_seconds=<s>`."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import tempfile
import time

from pyspark.sql import functions as F
from pyspark.sql.types import DateType, DoubleType, IntegerType, StringType, StructField, StructType

from shoprank.config import SparkConf
from shoprank.session import build_session
from shoprank.storage.tables import DeltaRsEngine

SCORES = StructType([
    StructField("user_id", StringType(), False),
    StructField("item_id", StringType(), False),
    StructField("score", DoubleType(), False),
    StructField("rank", IntegerType(), False),
    StructField("run_date", DateType(), False),
])
RUN_DATE = dt.date(2026, 11, 21)


def scores(spark, rows: int, seed: int = 1):
    ids = spark.range(rows)
    return ids.select(
        F.concat(F.lit("u"), (F.col("id") / 10).cast("long").cast("string")).alias("user_id"),
        F.concat(F.lit("i"), ((F.col("id") * 7919) % 1_000_003).cast("string")).alias("item_id"),
        F.rand(seed).alias("score"),
        ((F.col("id") % 10) + 1).cast("int").alias("rank"),
        F.lit(RUN_DATE).alias("run_date"),
    )


def timed(label: str, fn):
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    print(f"{label:40s} {seconds:8.2f} s", flush=True)
    return out, seconds


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    spark = build_session(SparkConf(master="local[2]", app_name="bench-delta", shuffle_partitions=8,
                                    conf={"spark.driver.memory": "6g"}))
    engine = DeltaRsEngine(spark)
    root = tempfile.mkdtemp(prefix="bench-delta-")
    try:
        src = scores(spark, args.rows)
        parts = src.rdd.getNumPartitions()
        print(f"rows={args.rows:,} input partitions={parts} spark={spark.version}")
        delta_s, parquet_s = [], []
        for i in range(args.repeats):  # alternate to even out warm-up and page cache
            path = f"{root}/parquet-{i}"
            _, s = timed(f"plain Spark Parquet write #{i + 1}",
                         lambda path=path: src.write.mode("overwrite").partitionBy("run_date").parquet(path))
            parquet_s.append(s)
            table = f"{root}/delta-{i}"
            res, s = timed(f"Delta write via delta-rs engine #{i + 1}",
                           lambda table=table: engine.write(src, table, "scores", SCORES, ["run_date"],
                                                            "overwrite", {"run_date": RUN_DATE}, None))
            delta_s.append(s)
            print(f"  -> version {res.version}, {res.files} files, {res.rows:,} rows")
        table = f"{root}/delta-0"
        changed = max(1, args.rows // 100)
        # 1% of rows: existing (user, item) keys with new scores, spread over the whole table.
        source = (scores(spark, args.rows).filter(F.pmod(F.hash("user_id", "item_id"), F.lit(100)) == 0)
                  .withColumn("score", F.col("score") + 1.0))
        n_source = source.count()
        merged, merge_s = timed(f"MERGE {n_source:,} changed rows (~1%)",
                                lambda: engine.merge(source, table, "scores", SCORES, ["run_date"],
                                                     ["user_id", "item_id"], None))
        after = engine.read(table, SCORES)
        total = after.count()
        updated = after.filter(F.col("score") > 1.0).count()
        print(f"  -> version {merged.version}; table rows {total:,} (expected {args.rows:,}); "
              f"updated rows {updated:,} (expected {n_source:,}); target ~{changed:,}")
        if total != args.rows or updated != n_source:
            raise SystemExit("MERGE result is wrong")
        best_delta, best_parquet = min(delta_s), min(parquet_s)
        print(f"best: parquet {best_parquet:.2f}s, delta {best_delta:.2f}s "
              f"({args.rows / best_delta:,.0f} rows/s through delta-rs)")
        print(f"delta_write_vs_parquet={best_parquet / best_delta:.3f} merge_1pct_seconds={merge_s:.2f}")
    finally:
        spark.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
