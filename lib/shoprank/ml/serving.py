"""The published model: where the trainer put it, and a local copy per worker.

Executors fetch the model from the artifact store themselves (no `addFile`, no
shared mount) into a local cache keyed by its version, once per Python worker."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shoprank.errors import MissingInputError
from shoprank.storage import ArtifactStore, fs

_LOADED: dict[str, object] = {}


@dataclass(frozen=True)
class PublishedModel:
    location: str
    version: str  # run date + digest of the model file


def published_model(artifacts: ArtifactStore, run_date: dt.date) -> PublishedModel:
    """The model trained for `run_date`, or a typed error saying to train it."""
    meta_location = fs.join(artifacts.model_dir(run_date), "training.json")
    model = artifacts.model(run_date)
    if not (fs.exists(meta_location) and fs.exists(model)):
        raise MissingInputError(f"no model at {model}: run the 'train' stage for {run_date} first")
    digest = json.loads(fs.read_bytes(meta_location))["model_sha1"]
    return PublishedModel(model, f"{run_date.isoformat()}-{digest[:10]}")


def load(model: PublishedModel):
    """The Keras model, fetched and loaded once per worker process."""
    if model.version not in _LOADED:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        local = Path(tempfile.gettempdir()) / "shoprank-models" / f"{model.version}.keras"
        if not local.exists():
            fs.get(model.location, local)
        _LOADED[model.version] = tf.keras.models.load_model(str(local), compile=False)
    return _LOADED[model.version]
