"""One night's context: session, config, run date, the two stores; and `stage`,
which logs a stage's start, end and duration."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from shoprank.config import Config
from shoprank.storage import ArtifactStore, TableStore
from shoprank.transforms import in_window

log = logging.getLogger("shoprank")


def night_end(run_date: dt.date) -> dt.datetime:
    """A night covers its run date whole: it ends at the next midnight, UTC."""
    return dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), dt.UTC)


@dataclass(frozen=True)
class Windows:
    """A night sees the events of [horizon_start, end): `validation.horizon_days` up to
    the end of its run date (UTC). It keeps those of [kept_start, end): its label windows'
    snapshots each see the horizon before their own start."""

    horizon_start: dt.datetime
    end: dt.datetime
    kept_start: dt.datetime

    @classmethod
    def for_run(cls, run_date: dt.date, horizon_days: int, windows_days: int = 0) -> Windows:
        end = night_end(run_date)
        start = end - dt.timedelta(days=horizon_days)
        return cls(start, end, start - dt.timedelta(days=windows_days))


@dataclass
class Night:
    spark: SparkSession
    cfg: Config
    run_date: dt.date
    tables: TableStore
    artifacts: ArtifactStore
    force: bool = False
    run_version: int | None = None
    backtest: bool = False  # a replayed night: data after its end is held out, not an error
    summary: dict = field(default_factory=dict)

    @classmethod
    def open(cls, spark: SparkSession, cfg: Config, run_date: dt.date, **kwargs) -> Night:
        return cls(spark, cfg, run_date, TableStore(spark, cfg.storage.warehouse, cfg.storage.engine),
                   ArtifactStore.at(cfg.storage.artifacts), **kwargs)

    @property
    def windows(self) -> Windows:
        return Windows.for_run(self.run_date, self.cfg.validation.horizon_days, self.cfg.windows_days)

    def events(self) -> DataFrame:
        """The night's interactions its own snapshot sees, [horizon_start, end) (the ingest
        also keeps the label windows' history before them)."""
        w = self.windows
        return self.tables.require("interactions", self.run_date, "ingest").transform(in_window(w.horizon_start, w.end))


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
