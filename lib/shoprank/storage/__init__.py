"""Table and file I/O: the only place that knows paths, formats and Delta."""

from shoprank.storage.tables import TableStore, WriteResult, conform, has_delta_jars

__all__ = ["TableStore", "WriteResult", "conform", "has_delta_jars"]
