"""make bench-recall: one snapshot's candidates (every recall source, merged), as the
`candidates` stage computes them for a night and `examples` for each label window,
with the sources computed one after the other against `candidates.concurrent_sources`
at once. Runs ingest and embeddings for the run date first (idempotent), then alternates
the settings so both see the same warm session. Prints figures; the last line is
`recall_seconds_one_at_a_time=<s> recall_seconds_concurrent=<s> speedup=<ratio> differ=<n>` (the
best of the runs of each; differ: candidate rows the two settings do not share, 0 expected).

    python bench/bench_recall.py --conf conf/local.toml --run-date 2026-11-21 [--users 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time

from nights import open_night
from pyspark.sql import functions as F

from shoprank.materialise import release
from shoprank.stages.candidates import night_snapshot

log = logging.getLogger("bench_recall")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=0, help="recall for this many users (a label window's few); "
                    "0: every user with a history (the night's candidates)")
    ap.add_argument("--runs", type=int, default=2, help="runs of each setting, alternated")
    a, night = open_night(ap, ("ingest", "embeddings"))
    cfg, spark = night.cfg, night.spark
    _, snap_at = night_snapshot(night)
    snap = snap_at(night.windows.end)
    ids = snap.events.select("user_id").distinct()
    if a.users:
        ids = ids.orderBy(F.xxhash64("user_id"), "user_id").limit(a.users)
    users = snap.users(ids.cache()).cache()
    log.info("%d users, %d events before %s, %d sources", users.count(), snap.events.count(), snap.t,
             len(snap.sources))
    settings = {"one_at_a_time": 1, "concurrent": cfg.candidates.concurrent_sources}
    best, last = {}, {}
    for run in range(a.runs):
        for label, workers in settings.items():
            c = dataclasses.replace(cfg, candidates=dataclasses.replace(cfg.candidates, concurrent_sources=workers))
            timed = dataclasses.replace(snap, cfg=c)
            start = time.perf_counter()
            merged = timed.candidates(users, a.run_date)
            seconds, rows = time.perf_counter() - start, merged.count()
            if label in last:
                release(last[label])
            last[label] = merged
            log.info("%s (%d at once) run %d: %.1f s, %d candidate rows", label, workers, run, seconds, rows)
            best[label] = min(best.get(label, seconds), seconds)
    pairs = [f.select("user_id", "item_id", "sources") for f in last.values()]
    differ = pairs[0].exceptAll(pairs[1]).count() + pairs[1].exceptAll(pairs[0]).count()
    log.info("candidates (user, item, sources) in one setting and not the other: %d", differ)
    spark.stop()
    print(f"recall_seconds_one_at_a_time={best['one_at_a_time']:.1f} "
          f"recall_seconds_concurrent={best['concurrent']:.1f} "
          f"speedup={best['one_at_a_time'] / best['concurrent']:.2f} differ={differ}")


if __name__ == "__main__":
    main()
