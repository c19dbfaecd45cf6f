"""The nightly stages. Each `run_*` takes a `Night` (session, config, run date,
table store), reads its inputs through the store, composes library transforms,
runs the actions it needs as named steps, and writes through the store."""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field, fields

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from shoprank import candidates as cand
from shoprank import examples as ex
from shoprank import ingest, metrics, quality
from shoprank.config import Config
from shoprank.errors import EmptyStageError, QualityGateError, ReconciliationError, ShopRankError
from shoprank.features import attach_features, in_window, item_features, user_features
from shoprank.schemas import BOT_DAYS, EXAMPLES, RUN_AUDIT
from shoprank.score import latest_by_user, rerank, score_pairs
from shoprank.storage import TableStore, WriteResult
from shoprank.storage.sources import canonical_columns, read_records

log = logging.getLogger("shoprank")
LATEST_BUCKETS = 16


@dataclass
class Night:
    spark: SparkSession
    cfg: Config
    run_date: dt.date
    store: TableStore
    force: bool = False
    run_version: int | None = None
    summary: dict = field(default_factory=dict)

    @property
    def windows(self) -> ex.Windows:
        e = self.cfg.examples
        return ex.Windows.for_run(self.run_date, self.cfg.validation.horizon_days, e.label_days, e.validation_days)

    def work(self, *parts: str) -> str:
        return os.path.join(os.path.abspath(self.cfg.storage.work_dir), *parts)

    def examples_dir(self, split: str) -> str:
        return self.work("examples", self.run_date.isoformat(), split)

    def model_dir(self) -> str:
        return self.work("models", self.run_date.isoformat())

    def report_dir(self) -> str:
        return self.work("reports", self.run_date.isoformat())


@contextlib.contextmanager
def stage(night: Night, name: str):
    """Log start/end with duration; tag Spark jobs with the stage for the UI and logs."""
    sc = night.spark.sparkContext
    sc.setJobDescription(f"shoprank {name} {night.run_date}")
    log.info("stage %s: start (run date %s)", name, night.run_date)
    start = time.time()
    try:
        yield
    finally:
        sc.setJobDescription(None)
    log.info("stage %s: done in %.1fs", name, time.time() - start)


# --------------------------------------------------------------------- ingest
def _raw_actions(night: Night) -> DataFrame:
    i = night.cfg.input
    records = read_records(night.spark, i.actions_path, i.actions_format, i.actions_header, i.actions_columns)
    df = canonical_columns(records, ["user_id", "item_id", "action", "ts"], i.action_renames)
    if i.pseudonymize_users:
        key = os.environ.get("SHOPRANK_PSEUDONYM_KEY")
        if not key:
            raise ShopRankError("input.pseudonymize_users is on but $SHOPRANK_PSEUDONYM_KEY is not set "
                                "(the key is never read from a config file)")
        df = df.transform(ingest.pseudonymize_users(key))
    return df


def _raw_items(night: Night) -> DataFrame:
    i = night.cfg.input
    records = read_records(night.spark, i.items_path, i.items_format, i.items_header, i.items_columns)
    return canonical_columns(records, ["item_id", "category", "brand", "price", "title", "description",
                                       "updated_at"], i.item_renames)


def _outcomes(flagged: DataFrame) -> dict[str, int]:
    """Rows per reason (None = accepted): the one action that counts every outcome."""
    return {r.reason: r["count"] for r in flagged.groupBy("reason").count().collect()}


def _count_summary(outcomes: dict[str, int], input_rows: int | None = None) -> dict[str, int]:
    """`input_rows` defaults to the sum of the outcomes; given, it comes from another
    pass over the input, and reconciliation checks the two agree."""
    dups = {k: v for k, v in outcomes.items() if k in ingest.DUPLICATE_REASONS}
    return {
        "input_rows": sum(outcomes.values()) if input_rows is None else input_rows,
        "accepted": outcomes.get(None, 0),
        "quarantined": sum(v for k, v in outcomes.items() if k is not None and k not in ingest.DUPLICATE_REASONS),
        "duplicates": sum(dups.values()),
        "exact_duplicates": outcomes.get("exact_duplicate", 0) + outcomes.get("superseded", 0),
        "near_duplicates": outcomes.get("near_duplicate", 0),
    }


class Observed:
    """Aggregates over the rows flowing through `df`, computed by whichever action
    runs it (Spark's Observation): a write counts what flowed into it, with no
    pass of its own. Read `result` after `observe_all`."""

    def __init__(self, df: DataFrame, aggregates: dict[str, Column]):
        self._observation = Observation()
        self.df = df.observe(self._observation, *[c.alias(k) for k, c in aggregates.items()])

    def arrived(self, wait_seconds: float) -> bool:
        # Observation.get blocks forever when the metrics never come; poll the JVM
        # object's future instead (the listener reports asynchronously).
        future = self._observation._jo.future()  # noqa: SLF001
        deadline = time.monotonic() + wait_seconds
        while not future.isCompleted() and time.monotonic() < deadline:
            time.sleep(0.05)
        return future.isCompleted()

    @property
    def result(self) -> dict:
        return self._observation.get


def observe_all(plan: DataFrame, observed: list[Observed], ran: bool, wait_seconds: float = 10.0) -> None:
    """Make sure every observation in `plan` has its metrics. The action that ran the
    plan reports them. When none ran (a write skipped as already applied) or they
    never reached the driver (a writer executing the plan where Spark's listener
    does not see it), the plan runs once more into Spark's noop sink."""
    if ran and all(o.arrived(wait_seconds) for o in observed):
        return
    if ran:
        log.warning("observed metrics did not arrive; running the plan once more to count")
    plan.write.format("noop").mode("overwrite").save()
    if not all(o.arrived(wait_seconds) for o in observed):
        raise ShopRankError("observed metrics did not arrive after a run into the noop sink")


def reconcile(run_date: dt.date, counts: dict[str, dict[str, int]], written: dict, quarantine) -> tuple[list, list[str]]:
    """Audit rows and problems: per input, input = accepted + quarantined + duplicates,
    where `accepted` is what the table write actually committed."""
    audit, problems = [], []
    for source, c in counts.items():
        wrote = written[source]
        accepted = c["accepted"] if wrote.skipped else wrote.rows
        ok = c["input_rows"] == accepted + c["quarantined"] + c["duplicates"] and accepted == c["accepted"]
        audit.append((run_date, source, c["input_rows"], accepted, c["quarantined"], c["exact_duplicates"],
                      c["near_duplicates"], ok))
        if not ok:
            problems.append(f"{source}: input {c['input_rows']} != accepted {accepted} + quarantined "
                            f"{c['quarantined']} + duplicates {c['duplicates']}")
    expected = sum(c["quarantined"] for c in counts.values())
    if not quarantine.skipped and quarantine.rows != expected:
        problems.append(f"quarantine: wrote {quarantine.rows} rows, expected {expected}")
    return audit, problems


def _write_items(night: Night, items: DataFrame) -> tuple[dict, WriteResult]:
    outcomes = _outcomes(items)
    clean = items.filter(F.col("reason").isNull()).transform(
        ingest.clean_items(night.run_date, night.cfg.input.category_separator))
    return outcomes, night.store.replace_partition(clean, "items", night.run_date, night.run_version)


@dataclass(frozen=True)
class InteractionsPass:
    """Pass 1 of ingest: the plan that writes `interactions`, and what it observes."""

    df: DataFrame
    inputs: Observed
    bots: Observed
    duplicates: Observed
    profile: Observed

    @property
    def observed(self) -> list[Observed]:
        return [self.inputs, self.bots, self.duplicates, self.profile]


def interactions_pass(validated: DataFrame, items: DataFrame, run_date: dt.date, max_events_per_user_day: int,
                      near_dup_seconds: int) -> InteractionsPass:
    """Validated actions -> interactions: count the input, keep the valid rows, flag
    bot-like user-days, deduplicate, join the items. One parse and one shuffle."""
    # The raw line and file serve quarantine rows only, so they stay out of the shuffle.
    narrow = validated.select("user_id", "item_id", "action", "ts", "event_date", "extra", "reason", "detail")
    # The observation also keeps the filter below where it is: pushed through the
    # validation's projection, it would repeat the parse once per field (20x slower).
    inputs = Observed(narrow, {"input_rows": F.count(F.lit(1))})
    flagged = inputs.df.filter(F.col("reason").isNull()).transform(ingest.flag_bot_days(max_events_per_user_day))
    bots = Observed(flagged, ingest.bot_summary())
    deduped = bots.df.filter(F.col("reason").isNull()).transform(ingest.flag_duplicates(near_dup_seconds))
    dups = Observed(deduped, ingest.duplicate_counts())
    joined = dups.df.filter(F.col("reason").isNull()).transform(ingest.join_items(items, run_date))
    profile = Observed(joined, quality.profile_aggregates())
    return InteractionsPass(profile.df, inputs, bots, dups, profile)


def quarantine_rows(validated: DataFrame, items: DataFrame, bot_days: DataFrame, run_date: dt.date) -> DataFrame:
    """Pass 2 of ingest: every rejected row of both inputs, bots included (their user-days
    found by pass 1, broadcast)."""
    actions = validated.transform(ingest.flag_bots(F.broadcast(bot_days)))
    # The filter sits after the bot join: right after validation, Spark would push it
    # into the parse and repeat the parse once per field.
    return (actions.filter(ingest.is_quarantined()).transform(ingest.to_quarantine("actions", run_date))
            .unionByName(items.filter(ingest.is_quarantined()).transform(ingest.to_quarantine("items", run_date))))


def run_ingest(night: Night) -> dict:
    """Two passes over the raw actions, nothing cached but the small item table:
    1. count the input, flag bot-like user-days, deduplicate the valid rows, join
       items and write `interactions`, counting and profiling on the way (observed);
    2. flag the bots pass 1 found and write every rejected row to `quarantine`.
    Re-reading and re-parsing the input costs less than caching it (measured in
    bench-etl). The reconciliation compares the passes: pass 1's input against
    what pass 1 wrote plus what pass 2 quarantined (read back from the table)."""
    cfg, rd, version = night.cfg, night.run_date, night.run_version
    w, cap = night.windows, cfg.validation.max_events_per_user_day
    with stage(night, "ingest"):
        validated = (_raw_actions(night)
                     .transform(ingest.map_actions(cfg.input.action_map))
                     .transform(ingest.validate_actions(w.end, w.horizon_start, cfg.input.ts_unit)))
        items = (_raw_items(night)
                 .transform(ingest.validate_items(cfg.validation.max_price))
                 .transform(ingest.flag_superseded_items)
                 .persist(StorageLevel.MEMORY_AND_DISK))
        item_outcomes, it = _write_items(night, items)

        first = interactions_pass(validated, night.store.read("items", rd), rd, cap, cfg.validation.near_dup_seconds)
        ia = night.store.replace_partition(first.df, "interactions", rd, version)
        observe_all(first.df, first.observed, ran=not ia.skipped)
        bots = first.bots.result
        bot_list = ingest.bot_days_rows(bots)
        log.info("bot-like user-days: %d (%d rows)", len(bot_list), bots["bot_rows"])

        bot_days = night.spark.createDataFrame(bot_list, BOT_DAYS)
        q = night.store.replace_partition(quarantine_rows(validated, items, bot_days, rd), "quarantine", rd, version)
        # The actions' quarantine outcomes as committed, read back from the table.
        outcomes = _outcomes(night.store.read("quarantine", rd).filter(F.col("source") == "actions"))
        outcomes.update(first.duplicates.result)
        outcomes[None] = outcomes.pop("accepted")
        counts = {"actions": _count_summary(outcomes, input_rows=first.inputs.result["input_rows"]),
                  "items": _count_summary(item_outcomes)}
        log.info("ingest outcomes: %s", {"actions": {str(k): v for k, v in outcomes.items()},
                                         "items": {str(k): v for k, v in item_outcomes.items()}})

        audit, problems = reconcile(rd, counts, {"actions": ia, "items": it}, q)
        if outcomes.get("bot_user", 0) != bots["bot_rows"]:
            problems.append(f"bots: pass 1 flagged {bots['bot_rows']} rows, quarantine holds "
                            f"{outcomes.get('bot_user', 0)}")
        night.store.replace_partition(night.spark.createDataFrame(audit, RUN_AUDIT), "run_audit", rd, version)
        profile = quality.as_profile(first.profile.result)
        profile.update(quality.profile_counts(counts))
        night.store.replace_partition(quality.profile_frame(night.spark, rd, profile), "data_profile", rd, version)
        items.unpersist()
        if problems:
            raise ReconciliationError("run does not reconcile: " + "; ".join(problems))
        night.summary["ingest"] = counts
        log.info("ingest: %s", counts)
        return counts


# ----------------------------------------------------------------------- gate
def _profile(night: Night, run_date: dt.date) -> dict[str, float]:
    rows = night.store.read("data_profile", run_date).collect()  # one row per metric
    return {r.metric: r.value for r in rows}


def _previous_run_date(night: Night) -> dt.date | None:
    row = (night.store.read("data_profile").filter(F.col("run_date") < F.lit(night.run_date))
           .agg(F.max("run_date").alias("d")).collect()[0])
    return row.d


def run_gate(night: Night) -> list:
    """Compare this run's profile with the previous run's; write the data report."""
    rd = night.run_date
    with stage(night, "gate"):
        current = _profile(night, rd)
        if not current:
            raise EmptyStageError(f"no data profile for {rd}: run ingest first")
        prev_date = _previous_run_date(night)
        previous = _profile(night, prev_date) if prev_date else None
        breaches = quality.check_gate(current, previous, night.cfg.gate) if night.cfg.gate.enabled else []
        _write_report(night, current, previous, breaches)
        if breaches:
            err = QualityGateError(breaches)
            if not night.force:
                raise err
            log.warning("--force: continuing despite %s", err)
        else:
            log.info("quality gate passed (previous run: %s)", prev_date or "none")
        return breaches


def _write_report(night: Night, current, previous, breaches) -> None:
    from shoprank.report import write_report

    rd = night.run_date
    inter = night.store.read("interactions", rd)
    action_counts = {r.action: r["count"] for r in inter.groupBy("action").count().collect()}
    top_cats = [(r.category, r["count"]) for r in
                inter.groupBy("category").count().orderBy(F.desc("count")).limit(10).collect()]
    reasons = [(r.source, r.reason, r["count"]) for r in night.store.read("quarantine", rd)
               .groupBy("source", "reason").count().orderBy(F.desc("count")).collect()]
    audit = {r.source: {"input_rows": r.input_rows, "accepted": r.accepted, "quarantined": r.quarantined,
                        "duplicates": r.exact_duplicates + r.near_duplicates}
             for r in night.store.read("run_audit", rd).collect()}
    path = write_report(night.report_dir(), rd, audit, action_counts, top_cats, reasons, current,
                        previous, breaches)
    night.summary["report"] = str(path)
    log.info("data report: %s", path)


# ------------------------------------------------------------------- features
def run_features(night: Night) -> dict:
    rd, w = night.run_date, night.windows
    with stage(night, "features"):
        events = night.store.read("interactions", rd).transform(in_window(w.horizon_start, w.end))
        items = night.store.read("items", rd)
        u = night.store.replace_partition(events.transform(user_features(rd)), "user_features", rd,
                                          night.run_version)
        i = night.store.replace_partition(events.transform(item_features(rd, items)), "item_features", rd,
                                          night.run_version)
        if u.rows == 0 and not u.skipped:
            raise EmptyStageError(f"no active users in the window ending {w.end.isoformat()}")
        return {"users": u.rows, "items": i.rows}


# ------------------------------------------------------------------- examples
def run_examples(night: Night) -> dict:
    rd, w, e = night.run_date, night.windows, night.cfg.examples
    if e.shards < night.cfg.train.num_proc:
        raise ShopRankError(f"examples.shards ({e.shards}) must be >= train.num_proc "
                            f"({night.cfg.train.num_proc}): each rank reads its own shards")
    with stage(night, "examples"):
        events = night.store.read("interactions", rd)
        items = night.store.read("items", rd)
        out = {}
        for split, feat_end, lab_start, lab_end in (("train", w.label_start, w.label_start, w.val_start),
                                                     ("validation", w.val_start, w.val_start, w.end)):
            feat_events = events.transform(in_window(w.horizon_start, feat_end))
            users = feat_events.transform(user_features(rd))
            item_feats = feat_events.transform(item_features(rd, items))
            pos = events.transform(in_window(lab_start, lab_end)).transform(ex.positives)
            pool, size = ex.index_rows(ex.negative_pool(feat_events, items))
            if size == 0:
                raise EmptyStageError(f"no items to sample negatives from for {split}")
            if split == "train":
                neg = pos.transform(ex.sample_negatives(pool, size, e.negatives_per_positive, e.seed))
                exclude = events.transform(in_window(w.horizon_start, w.val_start)).transform(ex.positives)
            else:
                neg = pos.select("user_id").distinct().transform(
                    ex.sample_negatives(pool, size, e.eval_negatives, e.seed + 1))
                exclude = pos
            labelled = ex.label_examples(pos, neg, exclude).transform(attach_features(users, item_feats))
            path = night.examples_dir(split)
            (labelled.withColumn("split", F.lit(split))
             .repartition(e.shards, F.rand(e.seed)).write.mode("overwrite").parquet(path))
            pool.unpersist()
            stats = night.spark.read.parquet(path).agg(
                F.count(F.lit(1)).alias("rows"), F.sum("label").alias("positives")).collect()[0]
            if not stats.positives:
                raise EmptyStageError(f"{split} examples have no positives (window {lab_start} .. {lab_end})")
            out[split] = {"rows": stats.rows, "positives": int(stats.positives), "path": path}
            log.info("examples %s: %d rows, %d positives -> %s", split, stats.rows, stats.positives, path)
        night.summary["examples"] = out
        return out


# ----------------------------------------------------------------- candidates
def run_candidates(night: Night) -> dict:
    rd, w, c = night.run_date, night.windows, night.cfg.candidates
    with stage(night, "candidates"):
        start = max(w.horizon_start, w.end - dt.timedelta(days=c.lookback_days))
        events = night.store.read("interactions", rd).transform(in_window(start, w.end))
        users = night.store.read("user_features", rd)
        purchased = (events.filter(F.col("action") == "purchase").select("user_id", "item_id").distinct()
                     if night.cfg.score.exclude_purchased else None)
        sources = [
            cand.popular_in_categories(events, users, c.per_category),
            cand.cooccurrence(events, c.recent_items, c.cooc_neighbors),
            cand.popular_fallback(events, users, c.popular_fallback),
        ]
        merged = cand.merge_sources(rd, purchased)(sources).join(users.select("user_id"), "user_id", "left_semi")
        result = night.store.replace_partition(merged, "candidates", rd, night.run_version)
        return {"candidates": result.rows}


# ---------------------------------------------------------------------- train
def run_train(night: Night) -> dict:
    from shoprank.ml.model import ModelSpec
    from shoprank.ml.train import TrainParams, run_training

    t = night.cfg.train
    files = sorted(glob.glob(os.path.join(night.examples_dir("train"), "*.parquet")))
    if not files:
        raise EmptyStageError(f"no training shards under {night.examples_dir('train')}: run examples first")
    with stage(night, "train"):
        model_dir = night.model_dir()
        shutil.rmtree(model_dir, ignore_errors=True)  # a re-run trains afresh, never resumes stale state
        os.makedirs(model_dir, exist_ok=True)
        spec = {f.name: getattr(t, f.name) for f in fields(ModelSpec) if hasattr(t, f.name)}
        params = TrainParams(tuple(files), model_dir, t.epochs, t.batch_size, t.learning_rate, t.seed, spec)
        result = run_training(night.spark, params, t.num_proc)
        night.summary["train"] = {"ranks": result["size"], "final_loss": result["history"]["loss"][-1],
                                  "final_auc": result["history"]["auc"][-1], "seconds": result["seconds"]}
        return result


def _model_file(night: Night) -> tuple[str, str]:
    """Ship the model to executors under a versioned name; return (file name, version)."""
    path = os.path.join(night.model_dir(), "model.keras")
    if not os.path.exists(path):
        raise EmptyStageError(f"no model at {path}: run train first")
    with open(path, "rb") as fh:
        digest = hashlib.sha1(fh.read()).hexdigest()[:10]
    version = f"{night.run_date.isoformat()}-{digest}"
    name = f"shoprank-model-{version}.keras"
    shipped = os.path.join(night.model_dir(), name)
    if not os.path.exists(shipped):
        shutil.copyfile(path, shipped)
    with contextlib.suppress(Exception):  # already registered in this session
        night.spark.sparkContext.addFile(shipped)
    return name, version


# ---------------------------------------------------------------------- score
def run_score(night: Night) -> dict:
    rd, s = night.run_date, night.cfg.score
    with stage(night, "score"):
        name, version = _model_file(night)
        users = night.store.read("user_features", rd)
        items = night.store.read("item_features", rd)
        cands = night.store.read("candidates", rd).select("user_id", "item_id", "sources")
        parallelism = night.spark.sparkContext.defaultParallelism
        scored = (cands.transform(attach_features(users, items)).repartition(parallelism)
                  .transform(score_pairs(name)))
        recs = scored.transform(rerank(s.top_k, s.max_per_category, rd, version))
        result = night.store.replace_partition(recs, "recommendations", rd, night.run_version)
        latest = night.store.read("recommendations", rd).transform(latest_by_user(LATEST_BUCKETS))
        txn = (f"shoprank/latest_recommendations/{rd.isoformat()}", night.run_version) if night.run_version else None
        night.store.merge(latest, "latest_recommendations", ["user_id"], txn)
        night.summary["score"] = {"recommendations": result.rows, "model_version": version}
        return {"recommendations": result.rows, "model_version": version}


# ------------------------------------------------------------------- evaluate
def run_evaluate(night: Night) -> dict[str, dict[str, float]]:
    from shoprank.schemas import METRICS

    rd, k = night.run_date, 10
    with stage(night, "evaluate"):
        name, version = _model_file(night)
        val = night.spark.read.schema(EXAMPLES).parquet(night.examples_dir("validation"))
        scored = val.transform(score_pairs(name)).persist(StorageLevel.MEMORY_AND_DISK)
        results = {
            "ranker": metrics.summarize(metrics.per_user_metrics(scored, "score", k), k),
            "popularity": metrics.summarize(metrics.per_user_metrics(scored, "item_popularity", k), k),
        }
        scored.unpersist()
        rows = [(rd, model, metric, k if "@" in metric else None, float(value or 0.0), int(r["n_users"]))
                for model, r in results.items() for metric, value in r.items() if metric != "n_users"]
        night.store.replace_partition(night.spark.createDataFrame(rows, METRICS), "metrics", rd, night.run_version)
        for model, r in results.items():
            log.info("metrics %-10s HR@10=%.4f NDCG@10=%.4f AUC=%.4f users=%d", model, r["hr@10"],
                     r["ndcg@10"], r["auc"] or 0.0, r["n_users"])
        night.summary["metrics"] = results
        return results


# -------------------------------------------------------------------- nightly
STAGES = {
    "ingest": run_ingest,
    "gate": run_gate,
    "features": run_features,
    "examples": run_examples,
    "candidates": run_candidates,
    "train": run_train,
    "score": run_score,
    "evaluate": run_evaluate,
}


def run_nightly(night: Night) -> dict:
    start = time.time()
    for run_stage in STAGES.values():
        run_stage(night)
    night.summary["seconds"] = round(time.time() - start, 1)
    return night.summary


def run_maintain(night: Night, retention_hours: float) -> dict:
    """OPTIMIZE (compaction) and VACUUM every table that exists."""
    from shoprank.schemas import TABLES

    out = {}
    with stage(night, "maintain"):
        for table in TABLES:
            if not night.store.exists(table):
                continue
            compacted = night.store.optimize(table)
            removed = night.store.vacuum(table, retention_hours)
            out[table] = {"optimize": compacted, "vacuumed_files": len(removed)}
            log.info("maintain %s: %s, vacuumed %d files", table, compacted, len(removed))
    return out


def describe_outputs(night: Night) -> list[str]:
    from shoprank.schemas import TABLES

    return [f"{t:24s} {night.store.path(t)}" for t in TABLES if night.store.exists(t)]


__all__ = ["Night", "STAGES", "run_nightly", "run_maintain", "describe_outputs"]
