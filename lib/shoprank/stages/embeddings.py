"""Stage `embeddings`: text embeddings of the night's catalogue, cached in the
`item_embeddings` table by a hash of each text, so only new or changed texts are
embedded (on the executors). Off with `text.enabled = false`; skipped, with a log
line, for a catalogue without titles or descriptions."""

from __future__ import annotations

import logging
import time

from pyspark.sql import DataFrame

from shoprank import text
from shoprank.night import Night, stage

log = logging.getLogger("shoprank")


def run(night: Night) -> dict:
    rd = night.run_date
    with stage(night, "embeddings"):
        if not night.cfg.text.enabled:
            log.info("embeddings: off (text.enabled = false)")
            return {}
        texts = text.item_texts(night.tables.require("items", rd, "ingest")).cache()
        total = texts.count()
        if total == 0:
            log.info("embeddings: the catalogue of %s has no title or description; nothing to embed", rd)
            texts.unpersist()
            return {}
        known = night.tables.read("item_embeddings") if night.tables.exists("item_embeddings") else None
        todo = texts.select("text_hash", "text").distinct()
        if known is not None:
            todo = todo.join(known.select("text_hash"), "text_hash", "left_anti")
        todo = todo.repartition(night.spark.sparkContext.defaultParallelism).cache()
        new = todo.count()
        start = time.time()
        if new:
            result = night.tables.merge(text.embed(todo, night.cfg.text.batch_size), "item_embeddings",
                                        ["text_hash", "model"])
            seconds = time.time() - start
            log.info("embeddings: %d new texts embedded in %.1fs (%.0f items/s), %d of %d cached", result.rows,
                     seconds, result.rows / max(seconds, 1e-9), total - new, total)
        else:
            log.info("embeddings: all %d texts were embedded before", total)
        todo.unpersist()
        texts.unpersist()
        night.summary["embeddings"] = {"texts": total, "embedded": new}
        return night.summary["embeddings"]


def item_vectors(night: Night) -> DataFrame | None:
    """(item_id, vector) of the night's catalogue, or None when text is off or absent."""
    if not night.cfg.text.enabled or not night.tables.exists("item_embeddings"):
        return None
    texts = text.item_texts(night.tables.require("items", night.run_date, "ingest"))
    vectors = (texts.join(night.tables.read("item_embeddings").filter(f"model = '{text.MODEL}'"), "text_hash")
               .select("item_id", "vector"))
    return vectors.cache() if vectors.limit(1).count() else None
