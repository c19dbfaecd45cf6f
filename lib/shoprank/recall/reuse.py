"""Recall outputs kept between nights. A training window's candidates are recomputed each
night although the window's inputs have not changed: with windows one label span apart
and nights one span apart, tonight's windows are last night's, shifted by one. The
`examples` stage therefore keeps each event-based source's output per window in the
artifact store, under a key of everything the output depends on, and reads it back when
the key matches:

- the cutoff, the source's name, the `candidates` config and a digest of the recall and
  baseline code (a changed source never reads an older one's lists);
- a digest of the events the snapshot holds (before the cutoff, within the horizon),
  of the users recalled for, and of the recommendable items that have such an event.
  An event-based source can only score an item with an event before the cutoff, so
  items added to or retired from the catalogue without one do not change its output.

The `content` source (item text: it reaches items without events) is always computed.
Late events before a cutoff, a re-labelled window or a new config change the key, and
the source runs again. A kept output is complete once Spark's `_SUCCESS` marker is
written; a killed writer leaves none, and the next night writes it again."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from functools import cache
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from shoprank.recall import RecallInputs
from shoprank.schemas import SOURCE_SCORES
from shoprank.storage import fs

log = logging.getLogger(__name__)
ALWAYS_COMPUTED = frozenset({"content"})
UNREAD = ("run_date", "extra")  # event columns no source reads: the night's date, free-form fields


@cache
def code_digest() -> str:
    """sha256 over the source files of the recall sources and the baselines they share code with."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted([*(root / "recall").glob("*.py"), *(root / "baselines").glob("*.py")]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _parts(h, prefix: str) -> list:
    """Order-free digest of rows by their 64-bit hash `h`: count, sum and xor; sums and xors
    of groups' parts are the parts of their union."""
    return [F.count(F.lit(1)).alias(f"{prefix}n"), F.sum((h % 1_000_000_007).cast("long")).alias(f"{prefix}s"),
            F.bit_xor(h).alias(f"{prefix}x")]


def _totals(df: DataFrame, *prefixes: str) -> list[int]:
    """The parts named by each prefix (`_parts`) summed over `df`'s rows, in one aggregation."""
    row = df.agg(*(agg(F.col(f"{p}{c}")) for p in prefixes for c, agg in
                   (("n", F.sum), ("s", F.sum), ("x", F.bit_xor)))).first()
    return [int(v or 0) for v in row]


def data_digest(inputs: RecallInputs) -> str:
    """What an event-based source reads, digested (a named step: two aggregations). The
    events are read once: digested per item, and those items select the allowed ones."""
    events = inputs.history
    read = sorted(c for c in events.columns if c not in UNREAD)
    per_item = events.groupBy("item_id").agg(*_parts(F.xxhash64(*read), "e"))
    allowed = inputs.allowed.groupBy("item_id").agg(*_parts(F.xxhash64("item_id"), "a"))
    digests = _totals(per_item.join(allowed, "item_id", "left"), "e", "a")
    users = inputs.users.select("user_id").agg(*_parts(F.xxhash64("user_id"), "u"))
    parts = {"events": digests[:3], "users": _totals(users, "u"), "allowed": digests[3:]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def key(name: str, inputs: RecallInputs, data: str) -> str:
    described = {"source": name, "end": inputs.end.isoformat(), "params": dataclasses.asdict(inputs.params),
                 "code": code_digest(), "data": data}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:24]


def location(root: str, end: dt.datetime, name: str, digest: str) -> str:
    return fs.join(root, f"as_of={end.date().isoformat()}", f"{name}-{digest}")


def kept(spark: SparkSession, at: str, make: Callable[[], DataFrame]) -> DataFrame:
    """The source's output read from `at`, written there first unless complete."""
    if not fs.exists(fs.join(at, "_SUCCESS")):
        (make().select("user_id", "item_id", F.col("score").cast("double"))
         .write.mode("overwrite").parquet(at))
    else:
        log.info("recall output reused: %s", at)
    return spark.read.schema(SOURCE_SCORES).parquet(at)


def makers(inputs: RecallInputs, sources: dict[str, Callable[[RecallInputs], DataFrame]],
           root: str | None) -> dict[str, Callable[[], DataFrame]]:
    """{name: a function giving the source's output}: kept under `root` (None: always computed)."""
    data = None if root is None else data_digest(inputs)
    spark = inputs.history.sparkSession
    out = {}
    for name, make in sources.items():
        if data is None or name in ALWAYS_COMPUTED:
            out[name] = lambda make=make: make(inputs)
        else:
            at = location(root, inputs.end, name, key(name, inputs, data))
            out[name] = lambda make=make, at=at: kept(spark, at, lambda: make(inputs))
    return out


def forget_before(root: str, cutoff: dt.date) -> int:
    """Delete the kept outputs of cutoffs before `cutoff` (no later night reads them);
    returns how many cutoffs were removed."""
    removed = 0
    for day in fs.list_dirs(root):
        name = day.rsplit("/", 1)[-1]
        if name.startswith("as_of=") and dt.date.fromisoformat(name[len("as_of="):]) < cutoff:
            fs.delete(day)
            removed += 1
    return removed
