"""Command line: `shoprank <stage> --conf conf/local.toml --run-date YYYY-MM-DD`.

Every job in `jobs/` calls `main` with its stage name, so `spark-submit
jobs/<stage>.py ...` and `shoprank <stage> ...` behave the same. Errors that
shoprank raises on purpose exit with their own non-zero code and a one-line
message; anything else exits 1 with a traceback. Airflow sees both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time

from shoprank.errors import ConfigError, ShopRankError

log = logging.getLogger("shoprank")
STAGE_NAMES = ["generate", "ingest", "gate", "features", "examples", "candidates", "train", "score",
               "evaluate", "nightly", "maintain"]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, found {text!r}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shoprank",
        description="shoprank nightly recommender. Stages, in nightly order: ingest, gate, features, "
                    "examples, candidates, train, score, evaluate. 'nightly' runs them all; 'generate' "
                    "writes synthetic input data; 'maintain' runs OPTIMIZE and VACUUM on every table.")
    p.add_argument("stage", choices=STAGE_NAMES, help="what to run")
    p.add_argument("--conf", required=True, help="config file, e.g. conf/local.toml")
    p.add_argument("--run-date", required=True, type=_date, help="the night to run, YYYY-MM-DD")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config value (repeatable)")
    p.add_argument("--force", action="store_true", help="continue past a quality-gate breach (logged)")
    p.add_argument("--run-version", type=int, default=None,
                   help="Delta application-transaction version for this run's writes: a retried write "
                        "with a version already committed for the run date is skipped (Airflow passes "
                        "one per DAG run)")
    p.add_argument("--format", default="csv", choices=["csv", "json", "parquet"],
                   help="generate: file format to write")
    p.add_argument("--retention-hours", type=float, default=168.0, help="maintain: VACUUM retention")
    return p


def _setup_logging() -> None:
    # Root at WARNING: Horovod logs its rendezvous chatter to the root logger at INFO.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    logging.getLogger("shoprank").setLevel(logging.INFO)
    for noisy in ("py4j", "matplotlib", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Horovod's driver threads open py4j connections that Spark later resets; py4j
    # retries and logs each reset at INFO with a traceback. Not an error: drop it.
    for handler in logging.getLogger().handlers:
        handler.addFilter(lambda r: "Exception while sending command" not in r.getMessage())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _print_summary(night, summary: dict) -> None:
    from shoprank.pipeline import describe_outputs

    lines = ["", f"shoprank nightly for {night.run_date} finished in {summary.get('seconds', 0)}s",
             f"Delta tables ({night.store.engine.name} engine):"]
    lines += ["  " + line for line in describe_outputs(night)]
    if "report" in summary:
        lines.append(f"  {'data report':24s} {summary['report']}")
    if "metrics" in summary:
        lines.append("Headline metrics on the validation window (HR@10 / NDCG@10 / AUC):")
        for model, r in summary["metrics"].items():
            lines.append(f"  {model:10s} HR@10={r['hr@10']:.4f} NDCG@10={r['ndcg@10']:.4f} "
                         f"AUC={(r['auc'] or 0):.4f} users={r['n_users']}")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _setup_logging()
    start = time.time()
    spark = None
    try:
        from shoprank.config import load_config

        cfg = load_config(args.conf, args.overrides)
        if args.stage == "generate":
            from shoprank.generate import generate

            counts = generate(cfg.generate, cfg.input.actions_path, cfg.input.items_path, args.run_date, args.format)
            print(f"generated {counts.actions} action rows ({counts.dirty_actions} dirty) and "
                  f"{counts.items} item rows into {cfg.input.actions_path} and {cfg.input.items_path}")
            return 0

        from shoprank import pipeline
        from shoprank.session import build_session
        from shoprank.storage import TableStore

        spark = build_session(cfg.spark)
        store = TableStore(spark, cfg.storage.warehouse, cfg.storage.engine)
        night = pipeline.Night(spark, cfg, args.run_date, store, args.force, args.run_version)
        if args.stage == "nightly":
            summary = pipeline.run_nightly(night)
            _print_summary(night, summary)
        elif args.stage == "maintain":
            pipeline.run_maintain(night, args.retention_hours)
        else:
            pipeline.STAGES[args.stage](night)
        log.info("%s for %s done in %.1fs", args.stage, args.run_date, time.time() - start)
        return 0
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return exc.exit_code
    except ShopRankError as exc:
        log.error("%s failed: %s: %s", args.stage, type(exc).__name__, exc)
        return exc.exit_code
    finally:
        if spark is not None:
            spark.stop()


if __name__ == "__main__":
    sys.exit(main())
