"""Stage `score`: every candidate scored on the executors with the night's ranker, the
final list picked (MMR, category caps), published as `recommendations` (per run date)
and `latest_recommendations` (MERGE by user)."""

from __future__ import annotations

from shoprank.ml.serving import published_model
from shoprank.night import Night, stage
from shoprank.score import latest_by_user, rerank, score_pairs
from shoprank.stages.candidates import night_snapshot, sellable_items

LATEST_BUCKETS = 16


def run(night: Night) -> dict:
    rd, s = night.run_date, night.cfg.score
    with stage(night, "score"):
        model = published_model(night.artifacts, rd)
        _, snap_at = night_snapshot(night)
        snap = snap_at(night.windows.end)
        cands = night.tables.require("candidates", rd, "candidates").select(
            "user_id", "item_id", "sources", "source_scores", "source_ranks")
        parallelism = night.spark.sparkContext.defaultParallelism
        scored = snap.features(cands).repartition(parallelism).transform(score_pairs(model))
        # The guard on what is published, whatever the candidates hold.
        recs = (scored.join(sellable_items(night), "item_id", "left_semi")
                .transform(rerank(s.top_k, s.max_per_category, s.mmr_lambda, s.rerank_depth, rd, model.version)))
        result = night.tables.replace_partition(recs, "recommendations", rd, night.run_version)
        latest = night.tables.read("recommendations", rd).transform(latest_by_user(LATEST_BUCKETS))
        night.tables.merge(latest, "latest_recommendations", ["user_id"],
                           night.tables.txn("latest_recommendations", rd, night.run_version))
        night.summary["score"] = {"recommendations": result.rows, "model_version": model.version}
        return night.summary["score"]
