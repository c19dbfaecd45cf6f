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
from shoprank.stages import NIGHTLY

log = logging.getLogger("shoprank")
STAGE_NAMES = ["generate", *NIGHTLY, "nightly", "maintain", "backtest"]


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
                    "writes synthetic input data; 'maintain' runs OPTIMIZE and VACUUM on every table; "
                    "'backtest' replays nights up to --run-date and scores their published lists against "
                    "what users did next, beside baselines.")
    p.add_argument("stage", choices=STAGE_NAMES, help="what to run")
    p.add_argument("--conf", required=True, help="config file, e.g. conf/local.toml")
    p.add_argument("--workdir", default=None, help="resolve relative paths (--conf and the local paths in "
                   "it) against this directory instead of the working directory, e.g. from a scheduler")
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
    p.add_argument("--horizon-days", type=int, default=7,
                   help="backtest: score each night's lists against what users did in this many days after it")
    p.add_argument("--nights", type=int, default=1, help="backtest: how many nights to replay, the last on --run-date")
    p.add_argument("--step-days", type=int, default=None,
                   help="backtest: days between replayed nights (default: the horizon, so horizons do not overlap)")
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
    from shoprank.schemas import TABLES

    lines = ["", f"shoprank nightly for {night.run_date} finished in {summary.get('seconds', 0)}s",
             f"Delta tables ({night.tables.engine.name} engine):"]
    lines += [f"  {t:24s} {night.tables.location(t)}" for t in TABLES if night.tables.exists(t)]
    if "report" in summary:
        lines.append(f"  {'data report':24s} {summary['report']}")
    if "quality_report" in summary:
        lines.append(f"  {'quality report':24s} {summary['quality_report']}")
    m = summary.get("metrics", {})
    published = sorted({model for kind, model, _, _ in m if kind in ("published", "baseline")})
    if published:
        lines.append(f"Published lists of {night.cfg.evaluate.horizon_days} nights ago vs what users did since:")
        for model in published:
            kind = "published" if model == "shoprank" else "baseline"
            lines.append(f"  {model:14s} NDCG={m.get((kind, model, 'all', 'ndcg')) or 0:.4f} "
                         f"HR={m.get((kind, model, 'all', 'hr')) or 0:.4f}")
    else:
        lines.append(f"No list published {night.cfg.evaluate.horizon_days} nights before {night.run_date} to score "
                     "yet (see `shoprank backtest` for the same metric on replayed nights).")
    for name, note in (("ranker", ""), ("ranker_in_sample", ", in-sample: the model was refit on them")):
        if ("diagnostic", name, "all", "auc") in m:
            lines.append(f"Ranker diagnostic on validation lists (not what users get{note}): "
                         f"AUC={m[('diagnostic', name, 'all', 'auc')] or 0:.4f}")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _setup_logging()
    start = time.time()
    spark = None
    try:
        from shoprank.config import load_config

        if args.workdir:  # before any path is read: the config and its relative paths
            if not os.path.isdir(args.workdir):
                raise ConfigError(f"--workdir: expected an existing directory, found {args.workdir!r}")
            os.chdir(args.workdir)
        cfg = load_config(args.conf, args.overrides)
        if args.stage == "generate":
            from shoprank.generate import generate

            counts = generate(cfg.generate, cfg.input.actions_path, cfg.input.items_path, args.run_date, args.format)
            print(f"generated {counts.actions} action rows ({counts.dirty_actions} dirty) and "
                  f"{counts.items} item rows into {cfg.input.actions_path} and {cfg.input.items_path}")
            return 0

        from shoprank import stages
        from shoprank.night import Night
        from shoprank.session import build_session

        spark = build_session(cfg.spark, f"{args.stage} {args.run_date}")
        night = Night.open(spark, cfg, args.run_date, force=args.force, run_version=args.run_version)
        if args.stage == "nightly":
            _print_summary(night, stages.run_nightly(night))
        elif args.stage == "maintain":
            from shoprank.stages import maintain

            maintain.run(night, args.retention_hours)
        elif args.stage == "backtest":
            from shoprank.stages import backtest

            backtest.run(spark, cfg, args.run_date, args.horizon_days, args.nights,
                         args.step_days or args.horizon_days, args.run_version)
        else:
            stages.runner(args.stage)(night)
        log.info("%s for %s done in %.1fs", args.stage, args.run_date, time.time() - start)
        return 0
    except ShopRankError as exc:
        log.error("%s failed: %s: %s", args.stage, type(exc).__name__, exc)
        return exc.exit_code
    finally:
        if spark is not None:
            spark.stop()


if __name__ == "__main__":
    sys.exit(main())
