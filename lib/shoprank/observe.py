"""Aggregates computed by whichever action runs a plan (Spark's Observation)."""

from __future__ import annotations

import logging
import time

from pyspark.sql import Column, DataFrame, Observation

from shoprank.errors import ReconciliationError

log = logging.getLogger(__name__)


class Observed:
    """Aggregates over the rows flowing through `df`, computed by whichever action
    runs it: a write counts what flowed into it, with no pass of its own. Read
    `result` after `observe_all`."""

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
        raise ReconciliationError("cannot count the run: observed metrics did not arrive after a run into the noop sink")
