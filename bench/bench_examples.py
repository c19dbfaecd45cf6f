"""make bench-examples: the `examples` stage of one night on the generated shop, timed,
with digests of the lists it wrote. Runs the stages before it for the run date first
(idempotent). Two versions of the code that write the same lists print the same digests:
order-free hashes of every (list, item, label) row and of every row's features, summed in
Spark per split. The last line is
`examples_seconds=<s> lists=<n> rows=<n> pairs_digest=<hex> features_digest=<hex>`.

    python bench/bench_examples.py --conf conf/local.toml --run-date 2026-11-21
"""

from __future__ import annotations

import argparse
import logging
import time

from nights import open_night
from pyspark.sql import functions as F

from shoprank import stages
from shoprank.stages.examples import SPLITS
from shoprank.storage import fs

log = logging.getLogger("bench_examples")
MOD = (1 << 61) - 1  # a prime: per-row hashes summed modulo it do not overflow a long


def main() -> None:
    a, night = open_night(argparse.ArgumentParser(), ("ingest", "gate", "embeddings", "features"))
    spark = night.spark
    start = time.perf_counter()
    stages.runner("examples")(night)
    seconds = time.perf_counter() - start
    total_lists, total_rows, digests = 0, 0, {"pairs": 0, "features": 0}
    for split in SPLITS:
        location = night.artifacts.examples(a.run_date, split)
        if not fs.list_files(location, ".parquet"):  # refit off: no refit lists
            continue
        lists = spark.read.parquet(location)
        hashed = {"pairs": F.xxhash64("list_id", "item_id", "label"),
                  "features": F.xxhash64("list_id", "item_id", F.col("features").cast("string"))}
        got = lists.agg(F.countDistinct("list_id").alias("lists"), F.count(F.lit(1)).alias("rows"), *[
            F.sum(F.pmod(h, F.lit(MOD)).cast("decimal(38,0)")).alias(k) for k, h in hashed.items()]).collect()[0]
        log.info("%s: %d lists, %d rows", split, got.lists, got.rows)
        total_lists, total_rows = total_lists + got.lists, total_rows + got.rows
        for k in digests:
            digests[k] = (digests[k] * 1_000_003 + int(got[k] or 0)) % MOD
    spark.stop()
    print(f"examples_seconds={seconds:.1f} lists={total_lists} rows={total_rows} "
          f"pairs_digest={digests['pairs']:016x} features_digest={digests['features']:016x}")


if __name__ == "__main__":
    main()
