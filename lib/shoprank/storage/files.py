"""Data files for the delta-rs engine: Spark's own Parquet writer on the executors,
then Delta add actions built on the driver from the files' footers.

Each write goes to a fresh directory `w-<id>/` under the table root, so listing
that directory yields exactly this write's files. Delta statistics (numRecords,
nullCount, min/max) come from the Parquet footers: metadata only, never rows.
Files of a write that dies are never referenced by the log; VACUUM removes them.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import unquote

import pyarrow.fs
import pyarrow.parquet as pq

from shoprank.storage import fs

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def _stat_value(value):
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def footer_stats(meta: pq.FileMetaData) -> str:
    """Delta per-file statistics from a Parquet footer (top-level primitive columns)."""
    mins, maxs, nulls = {}, {}, {}
    top_level = {meta.schema.column(i).path: i for i in range(meta.num_columns)
                 if "." not in meta.schema.column(i).path}
    for name, idx in top_level.items():
        lo = hi = None
        null_count, complete = 0, True
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(idx).statistics
            if st is None:
                complete = False
                break
            null_count += st.null_count or 0
            if st.has_min_max:
                try:
                    a, b = _stat_value(st.min), _stat_value(st.max)
                except UnicodeDecodeError:  # a string column holding bytes that are not UTF-8
                    complete = False
                    break
                if a is None or b is None or (isinstance(a, str) and (len(a) > 64 or len(b) > 64)):
                    complete = False
                    continue
                lo = a if lo is None else min(lo, a)
                hi = b if hi is None else max(hi, b)
        if not complete:
            continue
        nulls[name] = null_count
        if lo is not None and not (isinstance(lo, float) and (lo != lo or hi != hi)):
            mins[name], maxs[name] = lo, hi
    return json.dumps({"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls})


def partition_values(rel_path: str, partition_cols: list[str]) -> dict[str, str | None]:
    """`w-x/run_date=2026-11-21/part-0.parquet` -> {"run_date": "2026-11-21"}."""
    found = {}
    for segment in rel_path.split("/")[:-1]:
        if "=" in segment:
            key, value = segment.split("=", 1)
            found[key] = None if value == HIVE_NULL else unquote(value)
    return {c: found.get(c) for c in partition_cols}


def list_written_files(table_root: str, write_dir: str) -> list[dict]:
    """Every Parquet file of one write: relative path, size, mtime, footer metadata."""
    filesystem, root = fs.resolve(table_root)
    selector = pyarrow.fs.FileSelector(f"{root}/{write_dir}", recursive=True, allow_not_found=True)
    out = []
    for info in filesystem.get_file_info(selector):
        base = info.base_name
        if info.type != pyarrow.fs.FileType.File or not base.endswith(".parquet") or base[0] in "._":
            continue
        rel = info.path[len(root) + 1:]
        with filesystem.open_input_file(info.path) as fh:
            meta = pq.ParquetFile(fh).metadata
        out.append({"path": rel, "size": info.size, "mtime_ms": int(info.mtime.timestamp() * 1000),
                    "meta": meta})
    return sorted(out, key=lambda f: f["path"])
