"""Stage `evaluate`: the production view of what shoprank publishes.

The list published `evaluate.horizon_days` nights ago is scored against what users did
since (the same protocol as `shoprank backtest`), beside the trailing popularity chart
as of that night, computed from the interactions that night saw. The ranker's AUC and
log loss on tonight's validation examples are kept as diagnostics (kind "diagnostic"):
they say how the model separates sampled examples, not what users get.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank import evaluation
from shoprank.baselines import BaselineInputs, popular
from shoprank.ml import diagnostics
from shoprank.ml.serving import published_model
from shoprank.night import Night, night_end, stage
from shoprank.report import QualityReport, publish_quality
from shoprank.schemas import EXAMPLES, METRICS
from shoprank.score import score_pairs
from shoprank.stages.candidates import sellable_items
from shoprank.storage import fs

log = logging.getLogger("shoprank")


def _rows(rd: dt.date, kind: str, model: str, list_date: dt.date | None, k: int | None,
          results: dict[str, dict[str, float]]) -> list[tuple]:
    out = []
    for segment, values in results.items():
        values = dict(values)
        users = int(values.pop("users", 0))
        out += [(rd, kind, model, list_date, segment, metric, k, None if v is None or math.isnan(v) else float(v),
                 users) for metric, v in values.items()]
    return out


def published_view(night: Night) -> list[tuple]:
    """METRICS rows for the list published horizon_days ago, and for popularity as of
    that night; none when no list was published then."""
    rd, e, k = night.run_date, night.cfg.evaluate, night.cfg.score.top_k
    list_date = rd - dt.timedelta(days=e.horizon_days)
    if list_date not in night.tables.run_dates("recommendations"):
        log.info("evaluate: no list was published on %s; the published view starts %d nights after the first",
                 list_date, e.horizon_days)
        return []
    end = night_end(list_date)
    then = Night(night.spark, night.cfg, list_date, night.tables, night.artifacts)
    history = then.events()
    allowed = sellable_items(then).cache()
    scoring = evaluation.prepare(history, night.tables.require("interactions", rd, "ingest"),
                                 night.tables.require("items", list_date, "ingest"), allowed, end,
                                 (night.windows.end - end).days, e)
    lists: dict[str, DataFrame] = {
        "shoprank": night.tables.require("recommendations", list_date, "score").select("user_id", "item_id", "rank")}
    inputs = BaselineInputs(history, scoring.users.select("user_id"), allowed, end, k, night.cfg.backtest)
    lists[f"popular_{night.cfg.backtest.popular_days}d"] = popular.lists(inputs)
    rows = []
    for model, built in lists.items():
        results = evaluation.score(built, scoring, k)
        rows += _rows(rd, "published" if model == "shoprank" else "baseline", model, list_date, k, results)
        if "all" in results:
            a = results["all"]
            log.info("published %-12s list of %s: NDCG@%d=%.4f HR@%d=%.4f recall=%.4f users=%d", model, list_date,
                     k, a["ndcg"], k, a["hr"], a["recall"], a["users"])
    evaluation.release(scoring)
    allowed.unpersist()
    return rows


def ranker_diagnostics(night: Night) -> list[tuple]:
    """AUC and NDCG of tonight's model on tonight's validation lists (candidates of the
    last label window, with a few random items), and its log loss when it was trained
    for probabilities (binary loss). A model refit on those lists after selection is
    scored in-sample: its rows are named `ranker_in_sample`."""
    rd, k = night.run_date, night.cfg.score.top_k
    model = published_model(night.artifacts, rd)
    meta = json.loads(fs.read_bytes(fs.join(night.artifacts.model_dir(rd), "training.json")))
    name = "ranker_in_sample" if meta.get("refit") else "ranker"
    location = night.artifacts.examples(rd, "validation")
    if not night.artifacts.shards(location):
        log.info("evaluate: no validation examples at %s; no diagnostics", location)
        return []
    val = night.spark.read.schema(EXAMPLES).parquet(location)
    scored = val.transform(score_pairs(model)).persist(StorageLevel.MEMORY_AND_DISK)
    out = diagnostics.summarize(diagnostics.per_user_metrics(scored, "score", k), k)
    if night.cfg.train.loss == "binary":
        out["logloss"] = diagnostics.logloss(scored.withColumn("score", F.expr("1 / (1 + exp(-score))")), "score")
    scored.unpersist()
    log.info("diagnostic %s (validation lists, not the headline): AUC=%.4f NDCG@%d=%.4f", name,
             out["auc"] or math.nan, k, out[f"ndcg@{k}"] or math.nan)
    return _rows(rd, "diagnostic", name, None, k, {"all": {"users": out.pop("n_users"), **out}})


def run(night: Night) -> dict:
    rd = night.run_date
    with stage(night, "evaluate"):
        rows = published_view(night) + ranker_diagnostics(night)
        night.tables.replace_partition(night.spark.createDataFrame(rows, METRICS), "metrics", rd, night.run_version)
        summary = {(kind, model, segment, metric): value for _, kind, model, _, segment, metric, _, value, _ in rows}
        night.summary["metrics"] = summary
        history = [r for r in night.tables.read("metrics").filter("segment = 'all'").collect()
                   if r.kind != "diagnostic"]  # one row per night, model and metric: small
        if history:
            report = QualityReport.from_rows(f"shoprank published lists, nights up to {rd}", night.cfg.score.top_k,
                                             [(r.run_date, r.model, r.metric, r.value) for r in history])
            night.summary["quality_report"] = publish_quality(report, night.artifacts.quality_dir(rd))
        return summary
