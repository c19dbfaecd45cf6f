"""Stage `examples`: the ranker's training and validation lists, from the distribution it
serves, written as Parquet shards to the artifact store (each Horovod rank reads its
own shards), and the statistics that normalise its inputs.

Label windows of `Config.label_days` days (by default the horizon lists are scored at),
newest first: the last one before the night's end validates; the `examples.windows`
before it train. Each window's candidates and features come from a snapshot as of the
window's start (see `snapshot`); a window without a labelled user gets no lists and no
recall. Each event-based source's output for a window is kept in the artifact store
and read back by a later night whose inputs for that window match (`recall.reuse`,
`examples.reuse_recall`): tonight's windows are mostly last night's. Training lists
hold `examples.list_size` items (every positive, sampled hard and random negatives);
validation lists hold the user's whole candidate set and nothing else,
the set the final list is picked from, so validation NDCG (start choice, early stopping,
the kept epoch) measures the served ranking. The training windows' users also get such
whole-set lists ("judge"): the untrained starts are judged, and the sources weighed, on
the sets the final list is picked from. On the sampled training lists a source's NDCG says how
it orders a random 100 of a user's candidates, not how it ranks them all, and it moves
with the sample. With `train.refit`, the validation window's labels are also written as
training lists ("refit"): once validation has chosen the epochs, the model trains again
on them too. When no training window has a labelled list (a shop's first days), the
statistics say so (`untrained`) and the `train` stage publishes the untrained fusion."""

from __future__ import annotations

import datetime as dt
import json
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank import examples as ex
from shoprank.materialise import materialise, release
from shoprank.night import Night, stage
from shoprank.recall import reuse
from shoprank.schemas import EXAMPLES
from shoprank.snapshot import Snapshot
from shoprank.stages.candidates import night_snapshot
from shoprank.storage import fs

log = logging.getLogger("shoprank")

SPLITS = ("train", "judge", "validation", "refit")  # the list sets the stage writes
SERVED = ("judge", "validation")  # sets of every candidate, as served: no random catalogue items


def windows(night: Night) -> list[tuple[str, int, dt.datetime]]:
    """(split, window number, start) of each label window, oldest first."""
    e, end = night.cfg.examples, night.windows.end
    starts = [end - dt.timedelta(days=night.cfg.label_days * (k + 1)) for k in range(e.windows + 1)]
    return [("train", k, starts[k]) for k in range(e.windows, 0, -1)] + [("validation", 0, starts[0])]


def window_lists(snap: Snapshot, history: DataFrame, pool: DataFrame, pool_size: int, splits: tuple[str, ...],
                 k: int, night: Night) -> tuple[dict[str, DataFrame], list[DataFrame]]:
    """({split: the window's lists with features}, the frames computed once for them: the
    labels, the window's users and their interest vectors, which every source reads, and
    the candidates and their features, which every split reads; the caller releases them
    once the lists are written). Only users with a positive get lists, so only their
    pairs get features."""
    e = night.cfg.examples
    labels = materialise(ex.label_pairs(history, snap.t, night.cfg.label_days, snap.events,
                                        night.cfg.evaluate.relevant_actions))
    users = materialise(snap.users(labels.select("user_id").distinct()
                                   .join(snap.events.select("user_id").distinct(), "user_id")))
    if users.isEmpty():  # nobody to label (a window before the shop's first returning user): no recall either
        empty = night.spark.createDataFrame([], EXAMPLES)
        return {split: empty for split in splits}, [labels, users]
    snap = snap.prepared()
    kept_at = night.artifacts.recall_kept() if e.reuse_recall else None
    candidates = snap.candidates(users, night.run_date, kept_at)
    sampled = any(split not in SERVED for split in splits)  # training lists add random items
    drawn = ex.random_items(users, pool, pool_size, e.random_negatives, e.seed + k) if sampled else None
    pairs = candidates.select("user_id", "item_id")
    pairs = pairs if drawn is None else pairs.unionByName(drawn)
    with_pos = pairs.join(labels, ["user_id", "item_id"], "left_semi").select("user_id").distinct()
    columns = ("user_id", "item_id", "category", "features")
    featured = materialise(snap.features(candidates.join(with_pos, "user_id", "left_semi")).select(*columns))
    out = {}
    for split in splits:
        if split in SERVED:
            extra, size = None, night.cfg.candidates.most_per_user
        else:  # training lists ("refit": the validation window's, for training again after selection)
            extra = snap.features(ex.unscored(drawn.join(with_pos, "user_id", "left_semi"), candidates))
            extra, size = extra.select(*columns), e.list_size
        lists = ex.build_lists(featured, labels, extra, f"{split}{k}", size, e.seed + k)
        out[split] = lists.select("list_id", "user_id", "item_id", "category", "features", "label")
    return out, [f for f in (labels, users, snap.interest, candidates, featured) if f is not None]


def feature_stats(train: DataFrame, names: tuple[str, ...]) -> dict:
    """Mean and standard deviation of each input over the training rows (F numbers)."""
    stats = (train.select(F.posexplode("features").alias("i", "v")).groupBy("i")
             .agg(F.avg("v").alias("mean"), F.stddev_pop("v").alias("std")).collect())
    by = {r.i: r for r in stats}
    return {"names": list(names), "mean": [float(by[i].mean or 0.0) for i in range(len(names))],
            "std": [float(by[i].std or 0.0) or 1.0 for i in range(len(names))]}


def run(night: Night) -> dict:
    rd, e = night.run_date, night.cfg.examples
    with stage(night, "examples"):
        history, snap_at = night_snapshot(night)
        pool, pool_size = ex.index_items(snap_at(night.windows.end).allowed)
        out = {}
        for split in SPLITS:
            night.artifacts.clear(night.artifacts.examples(rd, split))
        planned = windows(night)
        if e.reuse_recall:  # cutoffs before tonight's oldest window: no later night reads them
            gone = reuse.forget_before(night.artifacts.recall_kept(), planned[0][2].date())
            log.info("examples: kept recall outputs of %d earlier cutoffs deleted", gone)
        for split, k, start in planned:
            if split == "train":
                splits = (split, "judge")
            else:
                splits = (split, "refit") if night.cfg.train.refit else (split,)
            by_split, held = window_lists(snap_at(start), history, pool, pool_size, splits, k, night)
            for split_, lists in by_split.items():
                location = fs.join(night.artifacts.examples(rd, split_), f"window={k}")
                (lists.repartition(e.shards, "list_id").sortWithinPartitions("list_id", "item_id")
                 .write.mode("overwrite").parquet(location))
                stats = night.spark.read.parquet(location).agg(
                    F.countDistinct("list_id").alias("lists"), F.count(F.lit(1)).alias("rows"),
                    F.sum("label").alias("positives")).collect()[0]
                log.info("examples %s window %d (labels from %s, %d days): %d lists, %d rows, %d positives", split_,
                         k, start.date(), night.cfg.label_days, stats.lists, stats.rows, stats.positives or 0)
                out[f"{split_}{k}"] = {"lists": stats.lists, "rows": stats.rows,
                                       "positives": int(stats.positives or 0)}
            for frame in held:
                release(frame)
        pool.unpersist()
        names = snap_at(night.windows.end).feature_names
        if any(v["lists"] for k, v in out.items() if k.startswith("train")):
            stats = feature_stats(night.spark.read.parquet(night.artifacts.examples(rd, "train")), names)
        else:  # a shop's first days: nothing to learn from, the untrained fusion is served
            reason = (f"no training list has a positive: no user interacted with a candidate in the {e.windows} "
                      f"label windows of {night.cfg.label_days} days before {windows(night)[-1][2].date()}")
            log.warning("examples: %s; the 'train' stage publishes the untrained fusion", reason)
            stats = {"names": list(names), "mean": [0.0] * len(names), "std": [1.0] * len(names), "untrained": reason}
        stats["label_days"] = night.cfg.label_days
        fs.write_bytes(night.artifacts.feature_stats(rd), json.dumps(stats).encode())
        night.summary["examples"] = out
        return out
