"""Stage `candidates`: every recall source for every active user, as of the night's end,
merged into the `candidates` table."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank.catalogue import prices_required, sellable
from shoprank.errors import EmptyStageError
from shoprank.materialise import release
from shoprank.night import Night, stage
from shoprank.snapshot import Snapshot

log = logging.getLogger("shoprank")


def sellable_items(night: Night) -> DataFrame:
    """The catalogue's items that may be published tonight (a named step: the price
    policy may look at the catalogue). In a replayed night (backtest) an item without
    a date exists once it has an interaction: its presence in today's catalogue says
    nothing about that night."""
    s, items = night.cfg.score, night.tables.require("items", night.run_date, "ingest")
    required = prices_required(s.price_policy, items)
    ids = items.transform(sellable(s.require_active, required))
    if night.backtest:
        seen = night.events().select("item_id")
        ids = ids.join(items.filter(F.col("updated_at").isNotNull()).select("item_id").unionByName(seen),
                       "item_id", "left_semi")
    if ids.limit(1).count() == 0:
        raise EmptyStageError(f"no sellable item in the catalogue of {night.run_date} (active: "
                              f"{s.require_active}, price required: {required})")
    return ids


def night_snapshot(night: Night) -> tuple[DataFrame, Callable[[dt.datetime], Snapshot]]:
    """The night's history and a function giving the snapshot as of any cutoff."""
    from shoprank.stages.embeddings import item_vectors

    rd = night.run_date
    history = night.tables.require("interactions", rd, "ingest").cache()
    catalogue = night.tables.require("items", rd, "ingest").cache()
    allowed = sellable_items(night).cache()
    vectors = item_vectors(night)
    return history, lambda t: Snapshot.at(history, catalogue, allowed, t, night.cfg, vectors)


def run(night: Night) -> dict:
    rd = night.run_date
    with stage(night, "candidates"):
        _, snap_at = night_snapshot(night)
        snap = snap_at(night.windows.end)
        users = night.tables.require("user_features", rd, "features").select("user_id", "top_categories",
                                                                               "category_affinity")
        candidates = snap.candidates(users, rd)
        result = night.tables.replace_partition(candidates, "candidates", rd, night.run_version)
        release(candidates)
        if result.rows == 0 and not result.skipped:
            raise EmptyStageError(f"no candidates for the {users.count()} active users of {rd}")
        return {"candidates": result.rows}
