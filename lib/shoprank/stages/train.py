"""Stage `train`: the ranker, data-parallel with horovod.spark.run on the executors."""

from __future__ import annotations

import json
import logging

from shoprank.errors import ConfigError, MissingInputError
from shoprank.night import Night, stage
from shoprank.stages.examples import SPLITS
from shoprank.storage import fs

log = logging.getLogger(__name__)


def run(night: Night) -> dict:
    from shoprank.ml.reader import with_rows
    from shoprank.ml.train import TrainParams, Waits, publish_untrained, run_training

    t, rd = night.cfg.train, night.run_date
    shards = {s: night.artifacts.shards(night.artifacts.examples(rd, s)) for s in SPLITS}
    stats_location = night.artifacts.feature_stats(rd)
    stats = json.loads(fs.read_bytes(stats_location)) if fs.exists(stats_location) else None
    untrained = stats and stats.get("untrained")  # examples found no labelled list, and said why
    train_files = [] if untrained or stats is None else with_rows(shards["train"])
    if stats is None or not (untrained or train_files):
        raise MissingInputError(f"no training lists at {night.artifacts.examples(rd, 'train')}: "
                                f"run the 'examples' stage for {rd} first")
    try:
        hidden = tuple(int(h) for h in t.hidden)
    except ValueError:
        raise ConfigError(f"train.hidden: expected layer widths such as [\"64\", \"32\"], found {t.hidden}") from None
    with stage(night, "train"):
        model_dir = night.artifacts.model_dir(rd)
        night.artifacts.clear(model_dir)  # a re-run trains afresh, never resumes stale state
        spec = {"feature_names": stats["names"], "mean": stats["mean"], "std": stats["std"],
                "embedding_dim": t.embedding_dim, "item_buckets": t.item_buckets,
                "category_buckets": t.category_buckets, "hidden": hidden}
        refit = tuple(shards["refit"]) if t.refit else ()
        # Each rank reads whole files and needs a training list: a night with fewer files
        # holding lists than ranks (a small shop's few labelled users) trains on fewer ranks.
        ranks = min(t.num_proc, len(train_files))
        if not untrained and ranks < t.num_proc:
            log.warning("train: %d file(s) hold training lists, fewer than train.num_proc = %d: training on %d "
                        "rank(s)", len(train_files), t.num_proc, ranks)
        params = TrainParams(tuple(train_files), tuple(shards["judge"]), tuple(shards["validation"]), refit,
                             model_dir, t.epochs, t.batch_size, t.learning_rate, t.patience, t.loss,
                             t.prior_lists, t.min_gain_se, t.fusion_power, night.cfg.examples.list_size,
                             night.cfg.candidates.most_per_user, night.cfg.score.top_k, t.seed, spec)
        waits = Waits(t.start_timeout_s, t.gloo_timeout_s, t.run_timeout_s)
        # No labelled list (examples said why): the plain fusion, untrained, on the driver.
        result = (publish_untrained(params, untrained) if untrained
                  else run_training(night.spark, params, ranks, waits))
        start = result["history"][0]
        night.summary["train"] = {"ranks": result["size"], "start": start["prior"], "start_lists": start["prior_lists"],
                                  "starts": start["priors"],
                                  "best_epoch": result["best_epoch"],
                                  "best_val_ndcg": result["best_val_ndcg"], "refit_epochs": len(result["refit"]),
                                  "seconds": result["seconds"], **({"untrained": untrained} if untrained else {})}
        return result
