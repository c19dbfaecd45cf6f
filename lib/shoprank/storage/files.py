"""Executor-side Parquet writing for the delta-rs engine.

Each Spark task streams its Arrow batches into one Parquet file per partition
value under the table root and yields one small metadata row per file (path,
size, partition values, Delta stats). Only that metadata reaches the driver,
which turns it into Delta add actions and commits them in one transaction.
Files a crashed write leaves behind are never referenced by the log, so they
are invisible to readers and VACUUM removes them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs
import pyarrow.parquet as pq
from pyspark.sql import DataFrame
from pyspark.sql.types import LongType, MapType, StringType, StructField, StructType

FILE_INFO = StructType(
    [
        StructField("path", StringType(), False),
        StructField("size", LongType(), False),
        StructField("partition_values", MapType(StringType(), StringType()), False),
        StructField("num_records", LongType(), False),
        StructField("stats", StringType(), False),
        StructField("modification_time", LongType(), False),
    ]
)

_STAT_TYPES = (pa.types.is_integer, pa.types.is_floating, pa.types.is_date,
               pa.types.is_timestamp, pa.types.is_string, pa.types.is_boolean)


def _partition_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _stat_value(value):
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class _StatsAccumulator:
    """Delta per-file statistics: numRecords, nullCount and min/max where safe."""

    def __init__(self, schema: pa.Schema):
        self.rows = 0
        self.cols = [f.name for f in schema if any(check(f.type) for check in _STAT_TYPES)]
        self.nulls = {c: 0 for c in self.cols}
        self.mins: dict = {}
        self.maxs: dict = {}

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        for name in self.cols:
            col = table.column(name)
            self.nulls[name] += col.null_count
            if pa.types.is_boolean(col.type) or col.null_count == len(col):
                continue
            mm = pc.min_max(col).as_py()
            lo, hi = mm["min"], mm["max"]
            if isinstance(lo, str) and (len(lo) > 64 or len(hi) > 64):
                continue  # truncated string bounds would be wrong for data skipping
            if isinstance(lo, float) and (lo != lo or hi != hi):
                continue
            self.mins[name] = lo if name not in self.mins else min(self.mins[name], lo)
            self.maxs[name] = hi if name not in self.maxs else max(self.maxs[name], hi)

    def to_json(self) -> str:
        return json.dumps(
            {
                "numRecords": self.rows,
                "minValues": {k: _stat_value(v) for k, v in self.mins.items()},
                "maxValues": {k: _stat_value(v) for k, v in self.maxs.items()},
                "nullCount": self.nulls,
            }
        )


def make_file_writer(table_root: str, data_schema: pa.Schema, partition_cols: list[str],
                     write_id: str):
    """Return the function each task runs under `mapInArrow`.

    `table_root` is a local path or a URI pyarrow's filesystem layer understands.
    """

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fs, root = pa.fs.FileSystem.from_uri(table_root) if "://" in table_root else (
            pa.fs.LocalFileSystem(), os.path.abspath(table_root))
        open_files: dict[tuple, tuple] = {}
        try:
            for batch in batches:
                table = pa.Table.from_batches([batch])
                if partition_cols:
                    keys = table.select(partition_cols).group_by(partition_cols).aggregate([])
                    groups = keys.to_pylist()
                else:
                    groups = [{}]
                for group in groups:
                    part = table
                    for col, value in group.items():
                        mask = pc.is_null(part[col]) if value is None else pc.equal(part[col], value)
                        part = part.filter(mask)
                    key = tuple(_partition_text(group[c]) for c in partition_cols)
                    if key not in open_files:
                        rel_dir = "/".join(
                            f"{c}={quote(v, safe='') if v is not None else '__HIVE_DEFAULT_PARTITION__'}"
                            for c, v in zip(partition_cols, key, strict=True)
                        )
                        name = f"part-{write_id}-{uuid.uuid4().hex}.snappy.parquet"
                        rel = f"{rel_dir}/{name}" if rel_dir else name
                        fs.create_dir(f"{root}/{rel_dir}" if rel_dir else root, recursive=True)
                        sink = fs.open_output_stream(f"{root}/{rel}")
                        writer = pq.ParquetWriter(sink, data_schema, compression="snappy")
                        open_files[key] = (rel, sink, writer, _StatsAccumulator(data_schema))
                    rel, sink, writer, stats = open_files[key]
                    data = part.drop_columns(partition_cols).cast(data_schema)
                    writer.write_table(data)
                    stats.add(data)
        finally:
            for _rel, sink, writer, _stats in open_files.values():
                writer.close()
                sink.close()
        now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        rows = []
        for key, (rel, _sink, _writer, stats) in open_files.items():
            size = fs.get_file_info(f"{root}/{rel}").size
            rows.append({
                "path": rel,
                "size": size,
                "partition_values": list(zip(partition_cols, key, strict=True)),
                "num_records": stats.rows,
                "stats": stats.to_json(),
                "modification_time": now_ms,
            })
        if rows:
            yield pa.RecordBatch.from_pylist(rows, schema=_FILE_INFO_ARROW)

    return write


_FILE_INFO_ARROW = pa.schema(
    [
        ("path", pa.string(), False),
        ("size", pa.int64(), False),
        ("partition_values", pa.map_(pa.string(), pa.string()), False),
        ("num_records", pa.int64(), False),
        ("stats", pa.string(), False),
        ("modification_time", pa.int64(), False),
    ]
)


def write_parquet_parts(df: DataFrame, table_root: str, data_schema: pa.Schema,
                        partition_cols: list[str], write_id: str,
                        cluster_by_partition: bool = False) -> DataFrame:
    """Lazy: a DataFrame of FILE_INFO rows; the files are written when it is collected.

    Each task writes one file per partition value it holds. `cluster_by_partition`
    shuffles rows by partition value first: fewer files for many-valued partition
    columns (user buckets), at the price of one task per value.
    """
    if partition_cols and cluster_by_partition:
        df = df.repartition(*partition_cols)
    return df.mapInArrow(make_file_writer(table_root, data_schema, partition_cols, write_id),
                         FILE_INFO)
