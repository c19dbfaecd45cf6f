"""Recall outputs kept between nights (recall.reuse): read back while what a source reads
is unchanged, computed again when it changes, never for the text source."""

import dataclasses
import datetime as dt

import pytest
from pyspark.sql import functions as F

from shoprank import recall
from shoprank.config import CandidatesConf
from shoprank.features import user_features
from shoprank.recall import reuse
from shoprank.storage import fs
from tests.conftest import rows
from tests.test_stages import END, interactions

EVENTS = [
    ("u1", "i1", "view", 1, "home", 1.0), ("u1", "i2", "view", 2, "home", 1.0),
    ("u2", "i1", "view", 3, "home", 1.0), ("u2", "i3", "purchase", 4, "toys", 1.0),
    ("u3", "i3", "view", 5, "toys", 1.0), ("u3", "i4", "view", 6, "toys", 1.0),
]
PARAMS = CandidatesConf(sources=("covisit", "ease", "popular"))


def inputs_of(spark, events, allowed=None, params=PARAMS):
    ev = interactions(spark, events)
    allowed = ev.select("item_id").distinct() if allowed is None else allowed
    return recall.RecallInputs(ev, ev.transform(user_features(END.date())), allowed, END, params)


def never(_inputs):
    raise AssertionError("computed although kept")


def outputs(inputs, sources, root):
    return {name: rows(make(), "user_id", "item_id") for name, make in reuse.makers(inputs, sources, root).items()}


def test_kept_outputs_are_read_back_while_their_inputs_match(spark, tmp_path):
    root = str(tmp_path / "recall")
    inputs = inputs_of(spark, EVENTS)
    sources = recall.sources(PARAMS, False)
    computed = {name: rows(make(inputs).select("user_id", "item_id", F.col("score").cast("double")),
                           "user_id", "item_id") for name, make in sources.items()}
    assert outputs(inputs, sources, root) == computed
    kept = fs.list_dirs(fs.join(root, "as_of=2026-11-22"))
    assert len(kept) == 3 and all(fs.exists(fs.join(k, "_SUCCESS")) for k in kept)

    stubs = dict.fromkeys(sources, never)
    assert outputs(inputs, stubs, root) == computed  # read back: nothing computed
    # Another night's copy of the same events, and a catalogue item without events: same key.
    later = dataclasses.replace(inputs, history=inputs.history.withColumn("run_date", F.lit(END.date())))
    assert outputs(later, stubs, root) == computed
    extra = inputs.allowed.unionByName(spark.createDataFrame([("i9",)], "item_id string"))
    assert outputs(dataclasses.replace(inputs, allowed=extra), stubs, root) == computed

    changed = [
        inputs_of(spark, [*EVENTS, ("u3", "i1", "view", 7, "home", 1.0)]),  # a late event before the cutoff
        dataclasses.replace(inputs, allowed=inputs.allowed.filter("item_id != 'i2'")),  # an item retired
        dataclasses.replace(inputs, users=inputs.users.filter("user_id != 'u1'")),  # other users
        dataclasses.replace(inputs, params=dataclasses.replace(PARAMS, per_source=1)),  # other config
        dataclasses.replace(inputs, end=END + dt.timedelta(days=1)),  # another cutoff
    ]
    for other in changed:
        with pytest.raises(AssertionError, match="computed although kept"):
            outputs(other, {"popular": never}, root)


def test_the_text_source_is_always_computed_and_old_cutoffs_are_forgotten(spark, tmp_path):
    root = str(tmp_path / "recall")
    inputs = inputs_of(spark, EVENTS)
    calls = []

    def content(i):
        calls.append(1)
        return i.history.select("user_id", "item_id", F.lit(1.0).alias("score"))

    sources = {"content": content, "popular": recall.sources(PARAMS, False)["popular"]}
    first = outputs(inputs, sources, root)
    assert outputs(inputs, sources, root) == first and len(calls) == 2
    assert [d.rsplit("/", 1)[-1] for d in fs.list_dirs(root)] == ["as_of=2026-11-22"]
    assert reuse.forget_before(root, END.date()) == 0
    assert reuse.forget_before(root, END.date() + dt.timedelta(days=1)) == 1
    assert fs.list_dirs(root) == []
