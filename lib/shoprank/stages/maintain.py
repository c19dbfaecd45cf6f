"""Command `maintain`: OPTIMIZE (compaction) and VACUUM every table that exists."""

from __future__ import annotations

import logging

from shoprank.night import Night, stage
from shoprank.schemas import TABLES

log = logging.getLogger("shoprank")


def run(night: Night, retention_hours: float = 168.0) -> dict:
    out = {}
    with stage(night, "maintain"):
        for table in TABLES:
            if not night.tables.exists(table):
                continue
            compacted = night.tables.optimize(table)
            removed = night.tables.vacuum(table, retention_hours)
            out[table] = {"optimize": compacted, "vacuumed_files": len(removed)}
            log.info("maintain %s: %s, vacuumed %d files", table, compacted, len(removed))
    return out
