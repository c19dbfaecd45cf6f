"""Command `backtest`: replay nights with only the data up to each, score each night's
published lists against what users did in the horizon after it, beside baselines
computed on the same data, users and exclusions.

For nights D_1 < ... < D_N (the last is --run-date, spaced by --step-days):
1. one ingest as of the last horizon's end (D_N + H) gives what happened after every
   night (the same validation and deduplication as any night);
2. each night runs ingest .. score in backtest mode: rows after its end are held out,
   not read, so nothing later leaks into any stage (the catalogue too: item rows
   updated later are held out, and an item without a date is sellable only once it
   has an interaction);
3. its `recommendations`, each recall source alone, and every baseline are scored by
   `evaluation` (full ranking, seen items excluded, a user without a list a miss);
   each user's NDCG of every list is kept as an artifact, and a paired bootstrap over
   (night, user) puts an interval on the headline ratio (see `bootstrap`).
The replayed nights live in their own warehouse and artifact roots (`_backtest` under
each), so production tables are never touched. Results go to the `backtest` table of
the main warehouse and to a quality report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import statistics
from collections import defaultdict

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from shoprank import bootstrap, evaluation, stages
from shoprank.baselines import BaselineInputs, baselines
from shoprank.config import Config, validate
from shoprank.errors import ConfigError
from shoprank.materialise import materialise, materialise_all, release
from shoprank.metrics import ACCURACY, BEYOND
from shoprank.night import Night, stage
from shoprank.report import QualityReport, publish_quality
from shoprank.schemas import BACKTEST, BACKTEST_USERS
from shoprank.stages import ingest
from shoprank.stages.candidates import sellable_items
from shoprank.storage import ArtifactStore, TableStore, fs

log = logging.getLogger("shoprank")
REPLAYED = tuple(s for s in stages.NIGHTLY if s != "evaluate")


@dataclasses.dataclass(frozen=True)
class Plan:
    nights: tuple[dt.date, ...]
    horizon_days: int

    @property
    def truth_date(self) -> dt.date:
        """The night whose ingest holds every horizon: the last night plus the horizon."""
        return self.nights[-1] + dt.timedelta(days=self.horizon_days)


def plan(last: dt.date, horizon_days: int, nights: int, step_days: int) -> Plan:
    if horizon_days < 1 or nights < 1 or step_days < 1:
        raise ConfigError(f"backtest: expected --horizon-days, --nights and --step-days >= 1, found "
                          f"{horizon_days}, {nights}, {step_days}")
    return Plan(tuple(last - dt.timedelta(days=step_days * i) for i in reversed(range(nights))), horizon_days)


def replay_config(cfg: Config, horizon_days: int) -> Config:
    """The config replayed nights run with: their own storage roots, and the backtest's
    horizon as the one their lists are scored at (label windows follow it by default)."""
    storage = dataclasses.replace(cfg.storage, warehouse=fs.join(fs.absolute(cfg.storage.warehouse), "_backtest"),
                                  artifacts=fs.join(fs.absolute(cfg.storage.artifacts), "_backtest"))
    evaluate = dataclasses.replace(cfg.evaluate, horizon_days=horizon_days)
    return validate(dataclasses.replace(cfg, storage=storage, evaluate=evaluate), f"backtest --horizon-days {horizon_days}")


def truth_config(cfg: Config, p: Plan) -> Config:
    """The ingest that holds every horizon reaches back to the first night."""
    reach = (p.truth_date - p.nights[0]).days + 1
    validation = dataclasses.replace(cfg.validation, horizon_days=max(cfg.validation.horizon_days, reach + 1))
    return dataclasses.replace(cfg, validation=validation)


def source_lists(candidates: DataFrame, name: str) -> DataFrame:
    """One recall source alone: its own ranking of the candidates it found."""
    return (candidates.filter(F.array_contains("sources", name))
            .select("user_id", "item_id", F.col("source_ranks")[name].alias("rank")))


def score_night(night: Night, later: DataFrame, horizon_days: int, per_user_at: ArtifactStore) -> list[tuple]:
    """BACKTEST rows of one replayed night; each list's per-user NDCG goes to
    `per_user_at.backtest_users`."""
    cfg, rd, k = night.cfg, night.run_date, night.cfg.score.top_k
    history = night.events()
    catalogue = night.tables.require("items", rd, "ingest")
    allowed = sellable_items(night).cache()
    scoring = evaluation.prepare(history, later, catalogue, allowed, night.windows.end, horizon_days,
                                 cfg.evaluate)
    log.info("night %s: %d users scored, %d new users in the horizon (not scored)", rd,
             scoring.users.count(), scoring.new_users)
    candidates = night.tables.require("candidates", rd, "candidates").cache()
    lists: dict[str, DataFrame] = {
        "shoprank": night.tables.require("recommendations", rd, "score").select("user_id", "item_id", "rank")}
    for name in sorted({s for r in candidates.select(F.explode("sources")).distinct().collect() for s in r}):
        lists[f"source:{name}"] = source_lists(candidates, name)
    inputs = BaselineInputs(history, scoring.users.select("user_id"), allowed, night.windows.end, k, cfg.backtest)
    rows = []

    last = night.summary["backtest_date"]

    def scored(name: str, built: DataFrame) -> None:
        built = materialise(built)  # each list computed once, and small plans for its metrics
        per_user = materialise(evaluation.per_user(built, scoring, k))
        for segment, values in evaluation.score(built, scoring, k, per_user).items():
            users = values.pop("users")
            rows.extend((last, rd, horizon_days, name, segment, metric, k, None if math.isnan(v) else v, users)
                        for metric, v in values.items())
        (per_user.select(F.lit(rd).alias("night"), F.lit(name).alias("model"), "user_id", "ndcg")
         .write.mode("overwrite").parquet(per_user_at.backtest_users(last, rd, name)))
        release(per_user)
        release(built)

    for name, built in lists.items():
        scored(name, built)
    with stage(night, "baselines"):  # the sources' models: fitted as many at once as they are
        makers = {name: (lambda make=make: make(inputs)) for name, make in baselines(cfg.backtest).items()}
        for name, built in materialise_all(night.spark, makers, cfg.candidates.concurrent_sources,
                                           f"night {rd} baseline").items():
            scored(name, built)
    recall_lists = {"candidates": candidates, **{
        n: candidates.filter(F.array_contains("sources", n[len("source:"):])) for n in lists if n.startswith("source:")}}
    for name, cands in recall_lists.items():
        for segment, value in evaluation.candidate_recall(cands, scoring).items():
            rows.append((night.summary["backtest_date"], rd, horizon_days, name, segment, "candidate_recall",
                         None, value, 0))
    evaluation.release(scoring)
    candidates.unpersist()
    allowed.unpersist()
    return rows


def run(spark: SparkSession, cfg: Config, last: dt.date, horizon_days: int, nights: int, step_days: int,
        run_version: int | None = None) -> dict:
    p = plan(last, horizon_days, nights, step_days)
    replay = replay_config(cfg, horizon_days)
    tables = TableStore(spark, replay.storage.warehouse, replay.storage.engine)
    artifacts = ArtifactStore.at(replay.storage.artifacts)
    log.info("backtest: nights %s, horizon %d days, replayed under %s", [d.isoformat() for d in p.nights],
             horizon_days, replay.storage.warehouse)
    future = Night(spark, truth_config(replay, p), p.truth_date, tables, artifacts, force=True,
                   run_version=run_version, backtest=True)
    ingest.run(future)
    later = tables.require("interactions", p.truth_date, "ingest").cache()
    reports = ArtifactStore.at(cfg.storage.artifacts)
    reports.clear(reports.backtest_users(last))
    rows = []
    for d in p.nights:
        night = Night(spark, replay, d, tables, artifacts, force=True, run_version=run_version, backtest=True)
        night.summary["backtest_date"] = last
        for name in REPLAYED:
            stages.runner(name)(night)
        rows += score_night(night, later, horizon_days, reports)
    later.unpersist()
    main = TableStore(spark, cfg.storage.warehouse, cfg.storage.engine)
    main.replace_partition(spark.createDataFrame(rows, BACKTEST), "backtest", last, run_version)
    summary = summarize(rows, cfg.score.top_k)
    if summary["best_baseline"]:
        per_user = (spark.read.schema(BACKTEST_USERS).option("recursiveFileLookup", "true")
                    .parquet(reports.backtest_users(last)))
        summary["interval"] = bootstrap.ratio_interval(spark, per_user, "shoprank", summary["best_baseline"],
                                                       cfg.backtest.bootstrap_replicates, cfg.backtest.seed,
                                                       min_hits=cfg.backtest.bootstrap_min_hits)
    location = publish_quality(QualityReport.from_backtest(cfg.env, last, horizon_days, rows, cfg.score.top_k),
                               reports.backtest_dir(last))
    summary["report"] = location
    print_summary(cfg.env, summary, cfg.score.top_k)
    return summary


def summarize(rows: list[tuple], k: int) -> dict:
    """Mean and spread over nights per model and metric (all users), per-segment NDCG,
    candidate recall, and shoprank's NDCG over the best baseline's."""
    by = defaultdict(list)
    for _, _, _, model, segment, metric, _, value, _ in rows:
        if value is not None:
            by[(model, segment, metric)].append(value)
    models = sorted({r[3] for r in rows if r[5] != "candidate_recall"})

    def stat(model, segment, metric):
        values = by.get((model, segment, metric), [])
        return (statistics.fmean(values) if values else math.nan,
                statistics.stdev(values) if len(values) > 1 else 0.0)

    table = {m: {metric: stat(m, "all", metric) for metric in (*ACCURACY, *BEYOND, "coverage")} for m in models}
    baseline_ndcg = {m: v["ndcg"][0] for m, v in table.items() if m != "shoprank" and not math.isnan(v["ndcg"][0])}
    best = max(baseline_ndcg, key=baseline_ndcg.get) if baseline_ndcg else None
    ratio = table["shoprank"]["ndcg"][0] / baseline_ndcg[best] if best and baseline_ndcg[best] else math.nan
    segments = {m: {s: stat(m, s, "ndcg")[0] for s in evaluation.SEGMENTS} for m in models}
    recall = {m: stat(m, "all", "candidate_recall")[0] for m in sorted({r[3] for r in rows if r[5] == "candidate_recall"})}
    return {"table": table, "segments": segments, "candidate_recall": recall, "best_baseline": best,
            "ndcg_over_best_baseline": ratio, "nights": sorted({r[1] for r in rows}), "k": k}


def print_summary(dataset: str, summary: dict, k: int) -> None:
    """The table people read, then the one line scripts read."""
    t = summary["table"]
    head = f"{'model':26s} {f'NDCG@{k}':>15s} {'HR':>7s} {'Recall':>7s} {'Prec':>7s} {'MAP':>7s} " \
           f"{'cover':>7s} {'divers':>7s} {'novel':>7s}"
    lines = [f"backtest {dataset}: nights {', '.join(d.isoformat() for d in summary['nights'])}; "
             f"mean over nights (± sd), all scored users", head, "-" * len(head)]
    for model in sorted(t, key=lambda m: -(t[m]["ndcg"][0] if not math.isnan(t[m]["ndcg"][0]) else -1)):
        v = t[model]
        lines.append(f"{model:26s} {v['ndcg'][0]:8.4f} ±{v['ndcg'][1]:.3f} {v['hr'][0]:7.4f} {v['recall'][0]:7.4f} "
                     f"{v['precision'][0]:7.4f} {v['map'][0]:7.4f} {v['coverage'][0]:7.4f} "
                     f"{v['diversity'][0]:7.3f} {v['novelty'][0]:7.2f}")
    lines.append("NDCG by segment: " + "; ".join(
        f"{s} shoprank {summary['segments']['shoprank'][s]:.4f}" for s in evaluation.SEGMENTS
        if not math.isnan(summary["segments"]["shoprank"][s])))
    lines.append("candidate recall (share of next items in the candidates): " + ", ".join(
        f"{m} {v:.3f}" for m, v in summary["candidate_recall"].items()))
    lines.append(f"report: {summary['report']}")
    lines.append(f"best baseline: {summary['best_baseline']}")
    ci = summary.get("interval")
    if ci and not ci["determined"]:
        lines.append(f"shoprank NDCG over {summary['best_baseline']}: interval not determined: only {ci['hits']} "
                     "(night, user) pairs where either list hits (backtest.bootstrap_min_hits); "
                     "more nights or a longer horizon needed")
    elif ci:
        lines.append(f"shoprank NDCG over {summary['best_baseline']}: {ci['level']:.0%} interval "
                     f"[{ci['lo']:.3f}, {ci['hi']:.3f}] (paired bootstrap over nights x users, "
                     f"{ci['replicates']} replicates, {ci['hits']} pairs with a hit); share of replicates "
                     f">= {ci['target']}: {ci['share_above_target']:.2f}")
    lines.append(f"backtest {dataset} ndcg_over_best_baseline={summary['ndcg_over_best_baseline']:.3f}")
    print("\n".join(lines), flush=True)
