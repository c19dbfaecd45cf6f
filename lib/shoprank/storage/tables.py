"""The one table I/O port. Stages name tables; this module knows where they live,
their format, and which Delta engine writes them.

Engines:
- `spark`: delta-spark, when the session carries Delta's extension and jars.
- `delta-rs`: executors write Parquet parts, the driver commits them in one Delta
  transaction through `deltalake` (local mode here, or any session without jars).

Every write is one commit. Partition overwrites have replaceWhere semantics, and
a write tagged with (app id, version) is skipped when the table already holds
that application transaction, so retried tasks never apply twice.

A write can also be *staged*: its data files are written but no reader sees them
until `commit`; `discard` deletes them. A `Batch` stages several tables and
commits them together once the caller has checked what it staged (ingest commits
nothing unless the night reconciles).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.fs
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType, TimestampType

from shoprank.errors import ConfigError, MissingInputError, SchemaMismatchError, StorageError
from shoprank.schemas import TABLES
from shoprank.storage import fs
from shoprank.storage.files import footer_stats, list_written_files, partition_values

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteResult:
    table: str
    version: int | None  # table version after the commit; None when skipped
    files: int
    rows: int
    skipped: bool = False


@dataclass(frozen=True)
class Staged:
    """Data files of a write that no reader sees until the engine commits them."""

    table: str
    location: str
    schema: StructType
    partition_by: tuple[str, ...]
    mode: str
    partition_values: dict | None
    txn: tuple[str, int] | None
    rows: int = 0
    files: int = 0
    staging: str | None = None  # the directory holding the files
    actions: tuple = ()  # delta-rs add actions
    skipped: bool = False  # already committed under this txn: nothing staged


def has_delta_jars(spark: SparkSession) -> bool:
    """True when delta-spark can run in this session (extension set, classes on the JVM)."""
    if "DeltaSparkSessionExtension" not in spark.conf.get("spark.sql.extensions", ""):
        return False
    try:
        spark._jvm.java.lang.Class.forName("io.delta.tables.DeltaTable")  # noqa: SLF001
        return True
    except Exception:  # py4j raises its own error types
        return False


def same_type(a, b) -> bool:
    """Types equal up to nullability of nested elements (Spark marks e.g. collect_set
    arrays as containsNull=false; that is not a schema change)."""
    return a.simpleString() == b.simpleString()


def require_columns(table: str, expected: StructType, found: StructType) -> None:
    """Every expected column present with the same type, or a typed error naming it."""
    have = {f.name: f for f in found.fields}
    for column in expected.fields:
        got = have.get(column.name)
        if got is None or not same_type(got.dataType, column.dataType):
            raise SchemaMismatchError(table, column.name, column.dataType.simpleString(),
                                      "column missing" if got is None else got.dataType.simpleString())


def check_schema(table: str, existing: StructType, incoming: StructType) -> list[str]:
    """Schema policy. Returns new columns to add; raises on drops and type changes."""
    require_columns(table, existing, incoming)
    known = {f.name for f in existing.fields}
    added = [f for f in incoming.fields if f.name not in known]
    for column in added:
        if not column.nullable:
            raise SchemaMismatchError(table, column.name, "a nullable new column",
                                      f"non-nullable {column.dataType.simpleString()}")
    return [f.name for f in added]


def conform(df: DataFrame, schema: StructType, table: str) -> DataFrame:
    """The table's columns in order, cast to the declared types where only nested
    nullability differs; a missing column or another type is a typed error."""
    require_columns(table, schema, df.schema)
    have = {f.name: f.dataType for f in df.schema.fields}
    return df.select(*[F.col(f.name) if have[f.name] == f.dataType else F.col(f.name).cast(f.dataType)
                       for f in schema.fields])


def parquet_options(schema: StructType) -> dict[str, str]:
    """No dictionary encoding for near-unique columns (ids, timestamps): their
    dictionaries overflow and fall back to plain encoding anyway, after costing the
    writer half its time (bench-etl: interactions at 10M, 20 s -> 10 s, files +6%)."""
    return {f"parquet.enable.dictionary#{f.name}": "false" for f in schema.fields
            if f.name.endswith("_id") or isinstance(f.dataType, TimestampType)}


def _partition_value_text(value) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _write_parquet(df: DataFrame, location: str, schema: StructType, partition_by: tuple[str, ...]) -> None:
    writer = (df.select(*schema.names).write.mode("errorifexists").option("compression", "snappy")
              .options(**parquet_options(schema)))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.parquet(location)


def _with_partition_columns(df: DataFrame, schema: StructType, values: dict) -> DataFrame:
    """Files of one partition (data columns only) -> the table's columns."""
    types = {f.name: f.dataType for f in schema.fields}
    return df.select(*[F.lit(_partition_value_text(values[c])).cast(types[c]).alias(c) if c in values else c
                       for c in schema.names])


class DeltaRsEngine:
    name = "delta-rs"

    def __init__(self, spark: SparkSession):
        self.spark = spark

    # -- helpers -----------------------------------------------------------
    @staticmethod
    def _table(path: str, version: int | None = None):
        from deltalake import DeltaTable

        return DeltaTable(fs.canonical(path), version=version)

    def exists(self, path: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(fs.canonical(path))

    def schema(self, path: str) -> StructType:
        return StructType.fromJson(json.loads(self._table(path).schema().to_json()))

    def _ensure(self, path: str, name: str, schema: StructType, partition_by) -> None:
        from deltalake import DeltaTable

        if self.exists(path):
            return
        filesystem, root = fs.resolve(path)
        filesystem.create_dir(root, recursive=True)
        try:
            DeltaTable.create(fs.canonical(path), to_arrow_schema(schema), mode="ignore",
                              partition_by=list(partition_by) or None, name=name)
        except Exception:  # a concurrent creator won the race for version 0
            if not self.exists(path):
                raise

    def committed(self, path: str, txn: tuple[str, int] | None) -> bool:
        return bool(txn) and self.exists(path) and (self._table(path).transaction_version(txn[0]) or -1) >= txn[1]

    def _commit(self, path: str, actions, mode: str, schema: StructType, partition_by, filters,
                txn, metadata: dict) -> int:
        from deltalake import CommitProperties
        from deltalake.transaction import Transaction

        props = CommitProperties(
            custom_metadata=metadata,
            max_commit_retries=20,
            app_transactions=[Transaction(txn[0], txn[1])] if txn else None,
        )
        for attempt in range(5):
            table = self._table(path)
            try:
                table.create_write_transaction(
                    list(actions), mode, to_arrow_schema(schema), partition_by=list(partition_by) or None,
                    partition_filters=filters, commit_properties=props,
                )
                return self._table(path).version()
            except Exception as exc:  # delta-rs raises CommitFailedError on conflicts
                if "conflict" not in str(exc).lower() and "commit" not in type(exc).__name__.lower():
                    raise
                log.warning("commit conflict on %s (attempt %d): %s", path, attempt + 1, exc)
                time.sleep(0.2 * (attempt + 1))
        raise StorageError(f"could not commit to {path} after 5 attempts")

    def _add_columns(self, path: str, name: str, schema: StructType) -> None:
        added = check_schema(name, self.schema(path), schema)
        if added:
            from deltalake.schema import Field

            arrow = to_arrow_schema(StructType([f for f in schema.fields if f.name in added]))
            self._table(path).alter.add_columns([Field.from_arrow(f) for f in arrow])
            log.info("table %s: added nullable columns %s", name, added)

    # -- staged writes -----------------------------------------------------
    def stage(self, df: DataFrame, path: str, name: str, schema: StructType, partition_by, mode: str,
              values: dict | None, txn: tuple[str, int] | None, cluster: bool = False) -> Staged:
        """Executors write Parquet with Spark's own writer into a fresh `w-<id>/`
        directory under the table root; the driver turns the files' footers into
        Delta add actions. Nothing is visible until `commit`."""
        from deltalake.transaction import AddAction

        partition_by = tuple(partition_by)
        staged = Staged(name, path, schema, partition_by, mode, values, txn)
        self._ensure(path, name, schema, partition_by)
        if self.committed(path, txn):
            log.info("table %s: transaction %s v%d already committed, skipping", name, *txn)
            return replace(staged, skipped=True)
        check_schema(name, self.schema(path), schema)
        write_dir = f"w-{uuid.uuid4().hex[:16]}"
        if partition_by and cluster:
            df = df.repartition(*partition_by)
        staging = fs.join(path, write_dir)
        try:
            _write_parquet(df, staging, schema, partition_by)
        except BaseException:
            fs.delete(staging)
            raise
        files = list_written_files(path, write_dir)
        actions = tuple(AddAction(f["path"], f["size"], partition_values(f["path"], list(partition_by)),
                                  f["mtime_ms"], True, footer_stats(f["meta"])) for f in files)
        return replace(staged, rows=sum(f["meta"].num_rows for f in files), files=len(files), staging=staging,
                       actions=actions)

    def commit(self, staged: Staged, removes: tuple = (), operation: str = "") -> WriteResult:
        if staged.skipped:
            return WriteResult(staged.table, None, 0, 0, skipped=True)
        self._add_columns(staged.location, staged.table, staged.schema)
        filters = None
        if staged.mode == "overwrite" and staged.partition_values:
            filters = [(k, "=", _partition_value_text(v)) for k, v in staged.partition_values.items()]
        mode = "append" if removes else staged.mode
        version = self._commit(staged.location, staged.actions + removes, mode, staged.schema, staged.partition_by,
                               filters, staged.txn, {"shoprank.operation": operation or f"write-{staged.mode}",
                                                     "shoprank.rows": str(staged.rows)})
        return WriteResult(staged.table, version, staged.files, staged.rows)

    def discard(self, staged: Staged) -> None:
        if staged.staging:
            fs.delete(staged.staging)

    def staged_frame(self, staged: Staged) -> DataFrame:
        """What the staged files hold, read as the table would read them once committed."""
        if staged.skipped:
            return self.read(staged.location, staged.schema, where=staged.partition_values)
        if not staged.files:
            return self.spark.createDataFrame([], staged.schema)
        data = StructType([f for f in staged.schema.fields if f.name not in staged.partition_by])
        paths = [fs.join(staged.location, a.path) for a in staged.actions]
        return _with_partition_columns(self.spark.read.schema(data).parquet(*paths), staged.schema,
                                       staged.partition_values or {})

    # -- operations --------------------------------------------------------
    def write(self, df: DataFrame, path: str, name: str, schema: StructType, partition_by: list[str],
              mode: str, partition_values: dict | None, txn: tuple[str, int] | None,
              cluster: bool = False) -> WriteResult:
        return self.commit(self.stage(df, path, name, schema, partition_by, mode, partition_values, txn, cluster))

    def _files(self, table) -> list[dict]:
        adds = table.get_add_actions(flatten=True)
        return pa.table(adds).to_pylist() if adds.num_rows else []

    def partitions(self, path: str, column: str) -> set[str]:
        """Values of a partition column that hold files (from the log: no data read)."""
        return {_partition_value_text(f[f"partition.{column}"]) for f in self._files(self._table(path))
                if f.get(f"partition.{column}") is not None}

    def read(self, path: str, schema: StructType | None, version: int | None = None,
             timestamp: str | None = None, with_file: bool = False,
             where: dict | None = None) -> DataFrame:
        """The snapshot's files only (removed files are never read), pruned by the
        partition values in `where`. Partition values come from the Delta log, never
        from directory names."""
        table = self._table(path, version)
        if timestamp is not None:
            table.load_as_version(dt.datetime.fromisoformat(timestamp))
        table_schema = StructType.fromJson(json.loads(table.schema().to_json()))
        parts = table.metadata().partition_columns
        wanted = {c: _partition_value_text(v) for c, v in (where or {}).items() if c in parts}
        files = [f for f in self._files(table) if all(f[f"partition.{c}"] is not None and
                                                      _partition_value_text(f[f"partition.{c}"]) == v
                                                      for c, v in wanted.items())]
        if not files:
            empty = self.spark.createDataFrame([], table_schema)
            return empty.withColumn("_file", F.lit(None).cast("string")) if with_file else empty
        # Spark reads the files under the location as configured (s3a:// for Hadoop).
        root = path.rstrip("/")
        data_schema = StructType([f for f in table_schema.fields if f.name not in parts])
        if not with_file and set(wanted) == set(parts):
            # One partition: its values are constants, no per-file mapping needed.
            df = self.spark.read.schema(data_schema).parquet(*[f"{root}/{f['path']}" for f in files])
            return _with_partition_columns(df, table_schema, {c: where[c] for c in parts})
        # A file is identified by its path relative to the table root, whatever wrote it
        # (this engine's w-<id>/ directories, delta-spark, another tool).
        root_path = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/*", "", root)
        df = (self.spark.read.schema(data_schema).parquet(*[f"{root}/{f['path']}" for f in files])
              .withColumn("_file", F.regexp_extract(F.col("_metadata.file_path"),
                                                    re.escape(root_path) + "/(.*)$", 1)))
        if parts:
            types = {f.name: f.dataType for f in table_schema.fields}
            rows = [(f["path"], *[None if f[f"partition.{c}"] is None
                                  else _partition_value_text(f[f"partition.{c}"]) for c in parts])
                    for f in files]
            mapping = self.spark.createDataFrame(rows, ["_file", *parts]).select(
                "_file", *[F.col(c).cast(types[c]).alias(c) for c in parts])
            df = df.join(F.broadcast(mapping), "_file")
        cols = table_schema.names + (["_file"] if with_file else [])
        return df.select(*cols)

    def merge(self, source: DataFrame, path: str, name: str, schema: StructType,
              partition_by: list[str], keys: list[str], txn) -> WriteResult:
        """Copy-on-write MERGE (upsert), distributed: only the files holding a
        matched key are rewritten, by the executors; one commit removes them
        and adds the rewritten and inserted rows."""
        self._ensure(path, name, schema, partition_by)
        if self.committed(path, txn):
            return WriteResult(name, None, 0, 0, skipped=True)
        check_schema(name, self.schema(path), schema)
        # The source is used three times (key check, touched files, new rows): compute it once.
        source = source.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return self._merge(source, path, name, schema, partition_by, keys, txn)
        finally:
            source.unpersist()

    def _merge(self, source, path, name, schema, partition_by, keys, txn) -> WriteResult:
        from deltalake.transaction import RemoveAction

        dupes = source.groupBy(*keys).count().filter("count > 1").limit(1).collect()
        if dupes:
            raise StorageError(f"merge into {name}: source has duplicate keys, e.g. {dupes[0].asDict()}")
        files = self._files(self._table(path))
        removes, out = [], source.select(*schema.names)
        if files:
            target = self.read(path, schema, with_file=True)
            touched_rows = target.join(source.select(*keys), keys, "left_semi")
            touched = [r._file for r in touched_rows.select("_file").distinct().collect()]  # O(files)
            if touched:
                by_path = {f["path"]: f for f in files}
                now = int(time.time() * 1000)
                for rel in touched:
                    info = by_path[rel]
                    pv = {k.split(".", 1)[1]: (None if v is None else _partition_value_text(v))
                          for k, v in info.items() if k.startswith("partition.")}
                    removes.append(RemoveAction(info["path"], True, now, info["size_bytes"], pv))
                kept = (target.filter(F.col("_file").isin(touched))
                        .join(source.select(*keys), keys, "left_anti").select(*schema.names))
                out = out.unionByName(kept)
        staged = self.stage(out, path, name, schema, partition_by, "append", None, txn, cluster=bool(partition_by))
        try:
            return self.commit(staged, tuple(removes), operation="merge")
        except BaseException:
            self.discard(staged)
            raise

    def history(self, path: str) -> list[dict]:
        return self._table(path).history()

    def version(self, path: str) -> int:
        return self._table(path).version()

    def optimize(self, path: str) -> dict:
        return self._table(path).optimize.compact()

    def vacuum(self, path: str, retention_hours: float) -> list[str]:
        """delta-rs VACUUM (unreferenced data files older than the retention), plus the
        `_temporary` trees a killed Spark job leaves in its write directory, which
        delta-rs skips because of the leading underscore."""
        removed = self._table(path).vacuum(retention_hours=retention_hours, dry_run=False,
                                           enforce_retention_duration=False, full=True)
        filesystem, root = fs.resolve(path)
        cutoff = time.time() - retention_hours * 3600
        for entry in filesystem.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True)):
            if entry.type != pyarrow.fs.FileType.Directory or not entry.base_name.startswith("w-"):
                continue
            temp = f"{entry.path}/_temporary"
            info = filesystem.get_file_info(temp)
            if info.type == pyarrow.fs.FileType.Directory and info.mtime.timestamp() <= cutoff:
                leftovers = filesystem.get_file_info(pyarrow.fs.FileSelector(temp, recursive=True))
                removed += [f.path for f in leftovers if f.type == pyarrow.fs.FileType.File]
                filesystem.delete_dir(temp)
        return removed


class SparkDeltaEngine:
    """delta-spark with the cluster's jars: Delta's own writer, MERGE and maintenance.

    Delta's writer commits as it writes, so a staged write goes to a Parquet
    directory beside the table (`_staging/<id>`) and is loaded into the table on
    commit: a second write of the data, the price of committing only after checks."""

    name = "spark"
    STAGING = "_staging"

    def __init__(self, spark: SparkSession):
        self.spark = spark

    def _dt(self, path: str):
        from delta.tables import DeltaTable

        return DeltaTable.forPath(self.spark, path)

    def exists(self, path: str) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, path)

    def schema(self, path: str) -> StructType:
        return self.spark.read.format("delta").load(path).schema

    def _ensure(self, path: str, schema: StructType, partition_by) -> None:
        from delta.tables import DeltaTable

        builder = DeltaTable.createIfNotExists(self.spark).location(path).addColumns(schema)
        if partition_by:
            builder = builder.partitionedBy(*partition_by)
        builder.execute()

    def write(self, df, path, name, schema, partition_by, mode, partition_values, txn,
              cluster=False) -> WriteResult:
        self._ensure(path, schema, partition_by)
        check_schema(name, self.schema(path), schema)
        before = self.version(path)
        writer = df.write.format("delta").mode(mode).option("mergeSchema", "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if mode == "overwrite" and partition_values:
            cond = " AND ".join(f"{k} = '{_partition_value_text(v)}'" for k, v in partition_values.items())
            writer = writer.option("replaceWhere", cond)
        if txn:  # Delta skips a write whose (app id, version) is already committed
            writer = writer.option("txnAppId", txn[0]).option("txnVersion", txn[1])
        writer.save(path)
        return self._result(path, name, before, "numOutputRows")

    def stage(self, df, path, name, schema, partition_by, mode, values, txn, cluster=False) -> Staged:
        # Always staged: on commit, Delta's txnAppId/txnVersion skip a write already applied.
        staged = Staged(name, path, schema, tuple(partition_by), mode, values, txn)
        self._ensure(path, schema, partition_by)
        check_schema(name, self.schema(path), schema)
        rel = f"{self.STAGING}/{uuid.uuid4().hex[:16]}"
        staging = fs.join(path, rel)
        try:
            _write_parquet(df, staging, schema, ())
        except BaseException:
            fs.delete(staging)
            raise
        files = list_written_files(path, rel)
        return replace(staged, rows=sum(f["meta"].num_rows for f in files), files=len(files), staging=staging)

    def staged_frame(self, staged: Staged) -> DataFrame:
        return self.spark.read.schema(staged.schema).parquet(staged.staging)

    def commit(self, staged: Staged) -> WriteResult:
        result = self.write(self.staged_frame(staged), staged.location, staged.table, staged.schema,
                            staged.partition_by, staged.mode, staged.partition_values, staged.txn)
        self.discard(staged)
        return result

    def discard(self, staged: Staged) -> None:
        if staged.staging:
            fs.delete(staged.staging)

    def partitions(self, path: str, column: str) -> set[str]:
        rows = self.spark.read.format("delta").load(path).select(column).distinct().collect()
        return {_partition_value_text(r[0]) for r in rows if r[0] is not None}

    def _result(self, path: str, name: str, before: int, rows_metric: str) -> WriteResult:
        last = self._dt(path).history(1).collect()[0]
        if last.version == before:
            return WriteResult(name, None, 0, 0, skipped=True)
        metrics = last.operationMetrics or {}
        return WriteResult(name, last.version, int(metrics.get("numFiles", 0)), int(metrics.get(rows_metric, 0)))

    def read(self, path, schema, version=None, timestamp=None, where=None) -> DataFrame:
        # Delta prunes partitions itself from the filter TableStore.read applies.
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        if timestamp is not None:
            reader = reader.option("timestampAsOf", timestamp)
        return reader.load(path)

    def merge(self, source, path, name, schema, partition_by, keys, txn) -> WriteResult:
        self._ensure(path, schema, partition_by)
        before = self.version(path)
        cond = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        conf = self.spark.conf
        if txn:  # the session-level form of txnAppId/txnVersion, which Delta's DML honours
            conf.set("spark.databricks.delta.write.txnAppId", txn[0])
            conf.set("spark.databricks.delta.write.txnVersion", str(txn[1]))
        try:
            (self._dt(path).alias("t").merge(source.alias("s"), cond)
             .whenMatchedUpdateAll().whenNotMatchedInsertAll().execute())
        finally:
            if txn:
                conf.unset("spark.databricks.delta.write.txnAppId")
                conf.unset("spark.databricks.delta.write.txnVersion")
        return self._result(path, name, before, "numTargetRowsInserted")

    def history(self, path):
        return [r.asDict(recursive=True) for r in self._dt(path).history().collect()]

    def version(self, path):
        return self._dt(path).history(1).collect()[0].version

    def optimize(self, path):
        return self._dt(path).optimize().executeCompaction().collect()[0].asDict(recursive=True)

    def vacuum(self, path, retention_hours):
        self.spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        self._dt(path).vacuum(retention_hours)
        return []


@dataclass
class Batch:
    """Writes of several tables for one run date, committed together.

    `stage` writes a table's data files (nothing visible); `frame` reads what was
    staged; `commit` makes every staged write visible, in staging order. Leaving
    the `with` block without committing (an error, a failed check) deletes every
    staged file: the tables stay exactly as they were."""

    store: TableStore
    run_date: dt.date
    txn_version: int | None
    staged: list[Staged] = field(default_factory=list)
    results: dict[str, WriteResult] = field(default_factory=dict)

    def stage(self, df: DataFrame, table: str) -> Staged:
        schema, parts = self.store.spec(table)
        txn = self.store.txn(table, self.run_date, self.txn_version)
        staged = self.store.engine.stage(conform(df, schema, table), self.store.location(table), table, schema,
                                         parts, "overwrite", {parts[0]: self.run_date}, txn)
        self.staged.append(staged)
        log.info("staged %s run_date=%s: %d rows, %d files%s", table, self.run_date, staged.rows, staged.files,
                 " (skipped: already committed)" if staged.skipped else "")
        return staged

    def frame(self, staged: Staged) -> DataFrame:
        return self.store.engine.staged_frame(staged)

    @property
    def skipped(self) -> bool:
        """Every staged write was committed before (a retry of a finished run)."""
        return bool(self.staged) and all(s.skipped for s in self.staged)

    def commit(self) -> dict[str, WriteResult]:
        for staged in self.staged:
            self.results[staged.table] = result = self.store.engine.commit(staged)
            log.info("committed %s run_date=%s: %d rows, version %s%s", staged.table, self.run_date, result.rows,
                     result.version, " (skipped: already applied)" if result.skipped else "")
        self.staged = []
        return self.results

    def discard(self) -> None:
        for staged in self.staged:
            self.store.engine.discard(staged)
        if self.staged:
            log.warning("discarded %d staged writes for %s: nothing committed", len(self.staged), self.run_date)
        self.staged = []

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()


class TableStore:
    """Stages call this by table name; nothing else knows where tables live."""

    def __init__(self, spark: SparkSession, warehouse: str, engine: str = "auto"):
        self.spark = spark
        self.warehouse = fs.absolute(warehouse)
        if engine == "auto":
            engine = "spark" if has_delta_jars(spark) else "delta-rs"
        if engine == "spark" and not has_delta_jars(spark):
            raise ConfigError("storage.engine='spark' but the session has no Delta extension/jars; "
                                "use engine='delta-rs' or 'auto'")
        self.engine: Any = SparkDeltaEngine(spark) if engine == "spark" else DeltaRsEngine(spark)
        log.info("table store at %s, engine %s", self.warehouse, self.engine.name)

    def location(self, table: str) -> str:
        return fs.join(self.warehouse, table)

    @staticmethod
    def spec(table: str) -> tuple[StructType, list[str]]:
        if table not in TABLES:
            raise ValueError(f"unknown table '{table}'; expected one of {sorted(TABLES)}")  # a bug, not a night
        return TABLES[table]

    @staticmethod
    def txn(table: str, run_date: dt.date, version: int | None) -> tuple[str, int] | None:
        return (f"shoprank/{table}/{run_date.isoformat()}", version) if version else None

    def exists(self, table: str) -> bool:
        return self.engine.exists(self.location(table))

    def replace_partition(self, df: DataFrame, table: str, run_date: dt.date,
                          txn_version: int | None = None) -> WriteResult:
        """Overwrite the run date's partition (replaceWhere): a re-run never duplicates."""
        schema, parts = self.spec(table)
        result = self.engine.write(conform(df, schema, table), self.location(table), table, schema, parts,
                                   "overwrite", {parts[0]: run_date}, self.txn(table, run_date, txn_version))
        log.info("wrote %s run_date=%s: %d rows, %d files, version %s%s", table, run_date,
                 result.rows, result.files, result.version, " (skipped: already applied)" if result.skipped else "")
        return result

    def batch(self, run_date: dt.date, txn_version: int | None = None) -> Batch:
        return Batch(self, run_date, txn_version)

    def append(self, df: DataFrame, table: str, txn: tuple[str, int] | None = None) -> WriteResult:
        schema, parts = self.spec(table)
        return self.engine.write(conform(df, schema, table), self.location(table), table, schema, parts,
                                 "append", None, txn)

    def merge(self, df: DataFrame, table: str, keys: list[str],
              txn: tuple[str, int] | None = None) -> WriteResult:
        schema, parts = self.spec(table)
        result = self.engine.merge(conform(df, schema, table), self.location(table), table, schema,
                                   parts, keys, txn)
        log.info("merged into %s: %d rows written, version %s", table, result.rows, result.version)
        return result

    def read(self, table: str, run_date: dt.date | None = None, version: int | None = None,
             timestamp: str | None = None) -> DataFrame:
        schema, parts = self.spec(table)
        if not self.exists(table):
            raise MissingInputError(f"table '{table}' does not exist at {self.location(table)}; "
                                    "run the stage that writes it first")
        where = {parts[0]: run_date} if run_date is not None else None
        df = self.engine.read(self.location(table), schema, version, timestamp, where=where)
        if run_date is not None:  # the engines prune files; this keeps the contract exact
            df = df.filter(F.col(parts[0]) == F.lit(run_date))
        return df

    def run_dates(self, table: str) -> list[dt.date]:
        """Run dates that hold data in `table`, oldest first (from the Delta log)."""
        if not self.exists(table):
            return []
        column = self.spec(table)[1][0]
        return sorted(dt.date.fromisoformat(v) for v in self.engine.partitions(self.location(table), column))

    def require(self, table: str, run_date: dt.date, stage: str) -> DataFrame:
        """The run date's partition, or a typed error saying which stage writes it."""
        if run_date not in self.run_dates(table):
            raise MissingInputError(f"table '{table}' has no data for {run_date}; run the '{stage}' stage "
                                    f"for {run_date} first")
        return self.read(table, run_date)

    def history(self, table: str) -> list[dict]:
        return self.engine.history(self.location(table))

    def version(self, table: str) -> int:
        return self.engine.version(self.location(table))

    def optimize(self, table: str) -> dict:
        return self.engine.optimize(self.location(table))

    def vacuum(self, table: str, retention_hours: float = 168) -> list[str]:
        return self.engine.vacuum(self.location(table), retention_hours)
