"""The nightly stages, one module each with `run(night)`, in nightly order."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from shoprank.night import Night

NIGHTLY = ("ingest", "gate", "embeddings", "features", "examples", "candidates", "train", "score", "evaluate")


def runner(name: str) -> Callable[[Night], object]:
    if name not in NIGHTLY:
        raise KeyError(f"unknown stage '{name}'; expected one of {NIGHTLY}")
    return importlib.import_module(f"shoprank.stages.{name}").run


def run_nightly(night: Night) -> dict:
    start = time.time()
    for name in NIGHTLY:
        runner(name)(night)
    night.summary["seconds"] = round(time.time() - start, 1)
    return night.summary
