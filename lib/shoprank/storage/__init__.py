"""Storage: the only code that knows where tables and files live.

`TableStore` names Delta tables, `ArtifactStore` names every other file (shards,
models, reports); both take local paths or URIs (`storage.fs`)."""

from shoprank.storage.artifacts import ArtifactStore
from shoprank.storage.tables import Batch, TableStore, WriteResult, conform, has_delta_jars

__all__ = ["ArtifactStore", "Batch", "TableStore", "WriteResult", "conform", "has_delta_jars"]
