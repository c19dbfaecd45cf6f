"""make bench-etl: ingest + clean + join of 1M and 10M generated events in local[2],
and the same logic in DuckDB on the same files in the same run.

Spark runs with 64 shuffle partitions ($BENCH_SHUFFLE_PARTITIONS): at 8, each task's
sort at 10M spilled and the local[2] JVM grew with the data.
Each Spark run is a fresh process, so its driver's peak RSS (Python driver + the
driver JVM, sampled every 0.2 s) is its own. The generated log is skewed: the top
1% of items get about half of the events, to exercise the skewed join.
Last line: `etl_time_ratio_vs_duckdb=<spark_s/duckdb_s at 10M> driver_rss_10m_over_1m=<y>`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

RUN_DATE = dt.date(2026, 11, 21)
HERE = Path(__file__).resolve().parent
SHUFFLE_PARTITIONS = int(os.environ.get("BENCH_SHUFFLE_PARTITIONS", "64"))
BOT_CAP = 2000  # events per user-day; the generator's bot has 2,500 in a day, real users far fewer


def gen_conf(events: int):
    from shoprank.config import GenerateConf

    users = max(1000, events // 54)  # the generator makes ~54 events per user over 8 days
    return GenerateConf(users=users, items=max(2000, events // 100), categories=40, brands=400, days=8,
                        dirt_rate=0.005, hot_item_share=0.5, seed=3)


# ------------------------------------------------------------------ Spark side
def _driver_rss(pid: int) -> tuple[int, int]:
    """(Python driver + driver JVM, Python driver alone). In local mode the driver JVM
    also runs the executors' tasks, so the first figure includes executor memory."""
    import psutil

    proc = psutil.Process(pid)
    own = proc.memory_info().rss
    total = own
    for child in proc.children(recursive=True):
        try:
            # The driver JVM only: executor JVMs (local-cluster) are children of a JVM,
            # and Python workers are executors too; neither is counted.
            if "java" in child.name() and "java" not in child.parent().name():
                total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total, own


def spark_worker(data: Path, out: Path, master: str) -> dict:
    from shoprank.config import load_config
    from shoprank.night import Night
    from shoprank.session import build_session
    from shoprank.stages import ingest

    peak = {"rss": 0, "python_rss": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            total, own = _driver_rss(os.getpid())
            peak["rss"], peak["python_rss"] = max(peak["rss"], total), max(peak["python_rss"], own)
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    cfg = load_config(HERE.parent / "conf" / "local.toml", [
        f"input.actions_path={data}/actions", f"input.items_path={data}/items",
        f"storage.warehouse={out}/warehouse", f"storage.artifacts={out}/artifacts",
        "spark.conf.spark.ui.enabled=true", f"spark.shuffle_partitions={SHUFFLE_PARTITIONS}", f"spark.master={master}",
        f"validation.max_events_per_user_day={BOT_CAP}"])
    spark = build_session(cfg.spark)
    night = Night.open(spark, cfg, RUN_DATE)
    start = time.perf_counter()
    counts = ingest.run(night)
    seconds = time.perf_counter() - start
    stages = _stage_task_times(spark)
    stop.set()
    spark.stop()
    return {"seconds": seconds, "peak_rss": peak["rss"], "peak_python_rss": peak["python_rss"],
            "counts": counts, "stages": stages}


def _stage_task_times(spark) -> list[dict]:
    """Max and median task time of the longest stages, from Spark's REST API on localhost."""
    url = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    try:
        stages = json.load(urllib.request.urlopen(f"{url}/api/v1/applications/{app}/stages?status=complete"))
    except OSError:
        return []
    out = []
    for st in sorted(stages, key=lambda s: -s.get("executorRunTime", 0))[:4]:
        q = json.load(urllib.request.urlopen(
            f"{url}/api/v1/applications/{app}/stages/{st['stageId']}/{st['attemptId']}/taskSummary?quantiles=0.5,1.0"))
        med, mx = q["executorRunTime"]
        # Rows per task (shuffle or input records) tell skew apart from the first wave's
        # JIT warm-up, which also makes a max task time.
        shuffled = q.get("shuffleReadMetrics", {}).get("readRecords", [0, 0])
        med_rows, max_rows = (shuffled if shuffled[-1] else q.get("inputMetrics", {}).get("recordsRead")) or [0, 0]
        out.append({"stage": st["stageId"], "tasks": st["numTasks"], "median_ms": med, "max_ms": mx,
                    "median_rows": med_rows, "max_rows": max_rows})
    return out


# ----------------------------------------------------------------- DuckDB side
DUCK_SQL = """
CREATE OR REPLACE TABLE raw AS
SELECT user_id, item_id, action, ts, device, filename AS source_file
FROM read_csv('{data}/actions/*.csv', header = true, all_varchar = true, filename = true,
              store_rejects = true, strict_mode = true);
CREATE OR REPLACE TABLE parsed AS
SELECT *, CASE WHEN regexp_full_match(trim(ts), '-?[0-9]+([.][0-9]+)?')
               THEN to_timestamp(CASE WHEN abs(ts::DOUBLE) > 1e11 THEN ts::DOUBLE / 1000 ELSE ts::DOUBLE END)
               ELSE try_cast(ts AS TIMESTAMPTZ) END AS t,
       CASE lower(trim(action)) WHEN 'view' THEN 'view' WHEN 'click' THEN 'click' WHEN 'favorite' THEN 'favorite'
            WHEN 'add_to_cart' THEN 'add_to_cart' WHEN 'purchase' THEN 'purchase' END AS act
FROM raw;
CREATE OR REPLACE TABLE flagged AS
SELECT *, CASE WHEN nullif(trim(user_id), '') IS NULL THEN 'null_user_id'
               WHEN nullif(trim(item_id), '') IS NULL THEN 'null_item_id'
               WHEN act IS NULL THEN 'unknown_action'
               WHEN t IS NULL THEN 'bad_timestamp'
               WHEN t >= TIMESTAMPTZ '{end}' THEN 'future_timestamp'
               WHEN t < TIMESTAMPTZ '{start}' THEN 'stale_timestamp' END AS reason
FROM parsed;
CREATE OR REPLACE TABLE botted AS
SELECT * REPLACE (coalesce(reason, CASE WHEN reason IS NULL AND
    count(*) OVER (PARTITION BY user_id, t::DATE, reason IS NULL) > {cap} THEN 'bot_user' END) AS reason)
FROM flagged;
CREATE OR REPLACE TABLE deduped AS
SELECT *, CASE WHEN reason IS NULL THEN CASE
    WHEN t = lag(t) OVER w AND device IS NOT DISTINCT FROM lag(device) OVER w THEN 'exact_duplicate'
    WHEN epoch(t) - epoch(lag(t) OVER w) <= {near} THEN 'near_duplicate' END END AS dup
FROM botted
WINDOW w AS (PARTITION BY user_id, item_id, act, reason IS NULL ORDER BY t, device);
CREATE OR REPLACE TABLE items_raw AS
SELECT *, try_cast(price AS DOUBLE) AS p, try_cast(updated_at AS TIMESTAMPTZ) AS u
FROM read_csv('{data}/items/*.csv', header = true, all_varchar = true, filename = true);
CREATE OR REPLACE TABLE items_flagged AS
SELECT *, CASE WHEN item_id IS NULL THEN 'null_item_id'
               WHEN (price IS NOT NULL AND p IS NULL) OR p <= 0 OR p > {max_price} THEN 'bad_price' END AS reason
FROM items_raw;
CREATE OR REPLACE TABLE items_latest AS
SELECT * REPLACE (CASE WHEN reason IS NULL AND row_number() OVER (PARTITION BY item_id, reason IS NULL
                  ORDER BY u DESC NULLS LAST, filename DESC) > 1 THEN 'superseded' ELSE reason END AS reason)
FROM items_flagged;
CREATE OR REPLACE TABLE items_clean AS
WITH base AS (SELECT item_id, coalesce(lower(trim(nullif(category, ''))), 'unknown') AS category,
                     coalesce(trim(brand), 'unknown') AS brand, p AS price,
                     lower(regexp_replace(trim(title), '\\s+', ' ', 'g')) AS title
              FROM items_latest WHERE reason IS NULL),
     med AS (SELECT category, median(price) AS m FROM base GROUP BY category)
SELECT b.* REPLACE (coalesce(b.price, med.m, (SELECT median(price) FROM base)) AS price)
FROM base b LEFT JOIN med USING (category);
COPY (SELECT d.user_id, d.item_id, d.act AS action, d.t AS ts, d.t::DATE AS event_date,
             coalesce(i.category, 'unknown') AS category, coalesce(i.brand, 'unknown') AS brand, i.price,
             i.item_id IS NOT NULL AS item_known
      FROM deduped d LEFT JOIN items_clean i USING (item_id) WHERE d.reason IS NULL AND d.dup IS NULL)
  TO '{out}/interactions.parquet' (FORMAT parquet);
COPY (SELECT reason, source_file FROM deduped WHERE reason IS NOT NULL)
  TO '{out}/quarantine.parquet' (FORMAT parquet);
"""


def duckdb_run(data: Path, out: Path) -> dict:
    import duckdb

    end = dt.datetime.combine(RUN_DATE + dt.timedelta(days=1), dt.time(), dt.UTC)
    con = duckdb.connect()
    con.execute("SET threads = 2")  # the same two cores Spark gets
    con.execute("SET TimeZone = 'UTC'")
    sql = DUCK_SQL.format(data=data, out=out, end=end.isoformat(), start=(end - dt.timedelta(days=30)).isoformat(),
                          cap=BOT_CAP, near=2, max_price=100000.0)
    start = time.perf_counter()
    con.execute(sql)
    seconds = time.perf_counter() - start
    accepted = con.execute(f"SELECT count(*) FROM '{out}/interactions.parquet'").fetchone()[0]
    top1 = con.execute("""WITH c AS (SELECT item_id, count(*) n FROM raw GROUP BY item_id),
                          r AS (SELECT n, row_number() OVER (ORDER BY n DESC) rk, count(*) OVER () k FROM c)
                          SELECT sum(n) FILTER (WHERE rk <= k / 100) / sum(n) FROM r""").fetchone()[0]
    rejects = con.execute("SELECT count(*) FROM reject_errors").fetchone()[0]
    return {"seconds": seconds, "accepted": accepted, "top1pct_item_share": top1, "csv_rejects": rejects}


# ------------------------------------------------------------------- driver
ISOLATED_MASTER = "local-cluster[2,1,4096]"


def run_spark(data: Path, out: Path, master: str) -> dict:
    """One Spark ingest in a fresh process (its own driver, so its own peak RSS)."""
    proc = subprocess.run([sys.executable, __file__, "--worker", str(data), str(out), master],
                          capture_output=True, text=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0 or not line:
        print(proc.stderr[-3000:])
        raise SystemExit(f"spark run failed on {data} with master {master}")
    return json.loads(line[0][7:])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000000,10000000")
    p.add_argument("--keep", action="store_true", help="keep the generated data")
    p.add_argument("--isolated-rss", action=argparse.BooleanOptionalAction, default=True,
                   help="also run Spark with executors in their own JVMs (local-cluster) to "
                        "measure the driver's RSS alone")
    p.add_argument("--worker", nargs=3, metavar=("DATA", "OUT", "MASTER"), help=argparse.SUPPRESS)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.worker:
        print("RESULT " + json.dumps(spark_worker(Path(args.worker[0]), Path(args.worker[1]), args.worker[2]),
                                     default=str))
        return

    from shoprank.generate import generate

    root = Path(tempfile.mkdtemp(prefix="bench-etl-"))
    results = {}
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            data = root / f"data-{size}"
            t = time.perf_counter()
            counts = generate(gen_conf(size), data / "actions", data / "items", RUN_DATE)
            print(f"\n== {counts.actions:,} events ({counts.items:,} item rows) generated in "
                  f"{time.perf_counter() - t:.1f}s", flush=True)
            duck = duckdb_run(data, root)
            print(f"duckdb : {duck['seconds']:7.1f}s  {counts.actions / duck['seconds']:>12,.0f} events/s  "
                  f"accepted {duck['accepted']:,}; top 1% of items get {duck['top1pct_item_share']:.0%} of events",
                  flush=True)
            spark = run_spark(data, root / f"spark-{size}", "local[2]")
            accepted = spark["counts"]["actions"]["accepted"]
            print(f"spark  : {spark['seconds']:7.1f}s  {counts.actions / spark['seconds']:>12,.0f} events/s  "
                  f"accepted {accepted:,}; peak driver RSS {spark['peak_rss'] / 2**20:,.0f} MiB "
                  f"(Python driver alone {spark['peak_python_rss'] / 2**20:,.0f} MiB)", flush=True)
            for st in spark["stages"]:
                print(f"  stage {st['stage']:>3} tasks={st['tasks']:>3} "
                      f"time median={st['median_ms'] / 1000:6.2f}s max={st['max_ms'] / 1000:6.2f}s  "
                      f"rows median={st['median_rows']:>10,.0f} max={st['max_rows']:>10,.0f}")
            if args.isolated_rss:
                iso = run_spark(data, root / f"spark-iso-{size}", ISOLATED_MASTER)
                spark["isolated_driver_rss"] = iso["peak_rss"]
                print(f"spark  : {iso['seconds']:7.1f}s  with executors in their own JVMs ({ISOLATED_MASTER}): "
                      f"peak driver RSS {iso['peak_rss'] / 2**20:,.0f} MiB", flush=True)
            results[size] = {"events": counts.actions, "spark": spark, "duck": duck}
            if not args.keep:
                shutil.rmtree(data, ignore_errors=True)
        sizes = sorted(results)
        small, big = results[sizes[0]], results[sizes[-1]]
        ratio = big["spark"]["seconds"] / big["duck"]["seconds"]
        rss = big["spark"]["peak_rss"] / small["spark"]["peak_rss"]
        if "isolated_driver_rss" in big["spark"]:
            iso = big["spark"]["isolated_driver_rss"] / small["spark"]["isolated_driver_rss"]
            print(f"driver RSS 10M/1M with executors in their own JVMs: {iso:.2f} "
                  "(the headline below is local[2], where the driver JVM also runs the tasks)")
        print(f"\netl_time_ratio_vs_duckdb={ratio:.2f} driver_rss_10m_over_1m={rss:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
