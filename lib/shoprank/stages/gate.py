"""Stage `gate`: compare this run's data profile with the previous run's, write the
data report; a breach stops the night unless --force."""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import functions as F

from shoprank import quality
from shoprank.catalogue import prices_required
from shoprank.errors import QualityGateError
from shoprank.night import Night, stage
from shoprank.report import DataReport, publish

log = logging.getLogger("shoprank")


def _profile(night: Night, run_date: dt.date) -> dict[str, float]:
    rows = night.tables.read("data_profile", run_date).collect()  # one row per metric
    return {r.metric: r.value for r in rows}


def _previous_run_date(night: Night) -> dt.date | None:
    earlier = [d for d in night.tables.run_dates("data_profile") if d < night.run_date]
    return earlier[-1] if earlier else None


def _reasons(night: Night) -> list[tuple[str, str, int]]:
    """(source, reason, rows) of the night's quarantine, most rows first."""
    return [(r.source, r.reason, r["count"]) for r in night.tables.read("quarantine", night.run_date)
            .groupBy("source", "reason").count().orderBy(F.desc("count")).collect()]


def _data_report(night: Night, current, previous, breaches, reasons) -> DataReport:
    """The report's small aggregates (counts per action, category, reason)."""
    rd = night.run_date
    inter = night.tables.read("interactions", rd)
    action_counts = {r.action: r["count"] for r in inter.groupBy("action").count().collect()}
    top_cats = [(r.category, r["count"]) for r in
                inter.groupBy("category").count().orderBy(F.desc("count")).limit(10).collect()]
    audit = {r.source: {"input_rows": r.input_rows, "accepted": r.accepted, "quarantined": r.quarantined,
                        "duplicates": r.exact_duplicates + r.near_duplicates}
             for r in night.tables.read("run_audit", rd).collect()}
    return DataReport(rd, audit, action_counts, top_cats, reasons, current, previous, breaches)


def run(night: Night) -> list:
    rd = night.run_date
    with stage(night, "gate"):
        night.tables.require("run_audit", rd, "ingest")
        current = _profile(night, rd)
        prev_date = _previous_run_date(night)
        previous = _profile(night, prev_date) if prev_date else None
        breaches = []
        if night.cfg.gate.enabled:  # resolving the price policy reads the catalogue: only when it counts
            required = prices_required(night.cfg.score.price_policy, night.tables.require("items", rd, "ingest"))
            breaches = quality.check_gate(current, previous, night.cfg.gate, required)
        reasons = _reasons(night)
        location = publish(_data_report(night, current, previous, breaches, reasons), night.artifacts.report_dir(rd))
        night.summary["report"] = location
        log.info("data report: %s", location)
        if breaches:
            cfg = night.cfg
            err = QualityGateError(breaches, quality.quarantine_causes(breaches, reasons, cfg.validation,
                                                                       cfg.input.ts_unit, cfg.input.encoding,
                                                                       cfg.windows_days))
            if not night.force:
                raise err
            log.warning("--force: continuing despite %s", err)
        else:
            log.info("quality gate passed (previous run: %s)", prev_date or "none")
        return breaches
