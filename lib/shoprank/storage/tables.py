"""The one table I/O port. Stages name tables; this module knows where they live,
their format, and which Delta engine writes them.

Engines:
- `spark`: delta-spark, when the session carries Delta's extension and jars.
- `delta-rs`: executors write Parquet parts, the driver commits them in one Delta
  transaction through `deltalake` (local mode here, or any session without jars).

Every write is one commit. Partition overwrites have replaceWhere semantics, and
a write tagged with (app id, version) is skipped when the table already holds
that application transaction, so retried tasks never apply twice.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType, TimestampType

from shoprank.errors import SchemaMismatchError, ShopRankError
from shoprank.schemas import TABLES
from shoprank.storage.files import filesystem, footer_stats, list_written_files, partition_values

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteResult:
    table: str
    version: int | None  # table version after the commit; None when skipped
    files: int
    rows: int
    skipped: bool = False


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
    for field in expected.fields:
        got = have.get(field.name)
        if got is None or not same_type(got.dataType, field.dataType):
            raise SchemaMismatchError(table, field.name, field.dataType.simpleString(),
                                      "column missing" if got is None else got.dataType.simpleString())


def check_schema(table: str, existing: StructType, incoming: StructType) -> list[str]:
    """Schema policy. Returns new columns to add; raises on drops and type changes."""
    require_columns(table, existing, incoming)
    known = {f.name for f in existing.fields}
    added = [f for f in incoming.fields if f.name not in known]
    for field in added:
        if not field.nullable:
            raise SchemaMismatchError(table, field.name, "a nullable new column",
                                      f"non-nullable {field.dataType.simpleString()}")
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


class DeltaRsEngine:
    name = "delta-rs"

    def __init__(self, spark: SparkSession):
        self.spark = spark

    # -- helpers -----------------------------------------------------------
    @staticmethod
    def _table(path: str, version: int | None = None):
        from deltalake import DeltaTable

        return DeltaTable(path, version=version)

    def exists(self, path: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(path)

    def schema(self, path: str) -> StructType:
        return StructType.fromJson(json.loads(self._table(path).schema().to_json()))

    def _ensure(self, path: str, name: str, schema: StructType, partition_by: list[str]) -> None:
        from deltalake import DeltaTable

        if self.exists(path):
            return
        if "://" not in path:
            os.makedirs(path, exist_ok=True)
        try:
            DeltaTable.create(path, to_arrow_schema(schema), mode="ignore",
                              partition_by=partition_by or None, name=name)
        except Exception:  # a concurrent creator won the race for version 0
            if not self.exists(path):
                raise

    def _write_files(self, df: DataFrame, path: str, schema: StructType, partition_by: list[str],
                     cluster: bool):
        """Executors write Parquet with Spark's own writer into a fresh `w-<id>/`
        directory; the driver turns the files' footers into Delta add actions."""
        from deltalake.transaction import AddAction

        write_dir = f"w-{uuid.uuid4().hex[:16]}"
        if partition_by and cluster:
            df = df.repartition(*partition_by)
        writer = (df.select(*schema.names).write.mode("errorifexists").option("compression", "snappy")
                  .options(**parquet_options(schema)))
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.parquet(f"{path.rstrip('/')}/{write_dir}")
        files = list_written_files(path, write_dir)
        actions = [AddAction(f["path"], f["size"], partition_values(f["path"], partition_by), f["mtime_ms"],
                             True, footer_stats(f["meta"])) for f in files]
        return actions, sum(f["meta"].num_rows for f in files)

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
                    actions, mode, to_arrow_schema(schema), partition_by=partition_by or None,
                    partition_filters=filters, commit_properties=props,
                )
                return self._table(path).version()
            except Exception as exc:  # delta-rs raises CommitFailedError on conflicts
                if "conflict" not in str(exc).lower() and "commit" not in type(exc).__name__.lower():
                    raise
                log.warning("commit conflict on %s (attempt %d): %s", path, attempt + 1, exc)
                time.sleep(0.2 * (attempt + 1))
        raise ShopRankError(f"could not commit to {path} after 5 attempts")

    def _evolve(self, path: str, name: str, schema: StructType) -> StructType:
        existing = self.schema(path)
        added = check_schema(name, existing, schema)
        if added:
            from deltalake.schema import Field

            table = self._table(path)
            arrow = to_arrow_schema(StructType([f for f in schema.fields if f.name in added]))
            table.alter.add_columns([Field.from_arrow(f) for f in arrow])
            log.info("table %s: added nullable columns %s", name, added)
        return schema

    # -- operations --------------------------------------------------------
    def write(self, df: DataFrame, path: str, name: str, schema: StructType, partition_by: list[str],
              mode: str, partition_values: dict | None, txn: tuple[str, int] | None,
              cluster: bool = False) -> WriteResult:
        self._ensure(path, name, schema, partition_by)
        if txn and (self._table(path).transaction_version(txn[0]) or -1) >= txn[1]:
            log.info("table %s: transaction %s v%d already committed, skipping", name, *txn)
            return WriteResult(name, None, 0, 0, skipped=True)
        self._evolve(path, name, schema)
        actions, rows = self._write_files(df, path, schema, partition_by, cluster)
        filters = None
        if mode == "overwrite" and partition_values:
            filters = [(k, "=", _partition_value_text(v)) for k, v in partition_values.items()]
        version = self._commit(path, actions, mode, schema, partition_by, filters, txn,
                               {"shoprank.operation": f"write-{mode}", "shoprank.rows": str(rows)})
        return WriteResult(name, version, len(actions), rows)

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
        adds = table.get_add_actions(flatten=True)
        files = pa.table(adds).to_pylist() if adds.num_rows else []
        wanted = {c: _partition_value_text(v) for c, v in (where or {}).items() if c in parts}
        files = [f for f in files if all(f[f"partition.{c}"] is not None and
                                         _partition_value_text(f[f"partition.{c}"]) == v
                                         for c, v in wanted.items())]
        if not files:
            empty = self.spark.createDataFrame([], table_schema)
            return empty.withColumn("_file", F.lit(None).cast("string")) if with_file else empty
        root = table.table_uri.rstrip("/")
        data_schema = StructType([f for f in table_schema.fields if f.name not in parts])
        if not with_file and set(wanted) == set(parts):
            # One partition: its values are constants, no per-file mapping needed.
            types = {f.name: f.dataType for f in table_schema.fields}
            df = self.spark.read.schema(data_schema).parquet(*[f"{root}/{f['path']}" for f in files])
            return df.select(*[F.lit(where[c]).cast(types[c]).alias(c) if c in parts else c
                               for c in table_schema.names])
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
        table = self._table(path)
        if txn and (table.transaction_version(txn[0]) or -1) >= txn[1]:
            return WriteResult(name, None, 0, 0, skipped=True)
        self._evolve(path, name, schema)
        # The source is used three times (key check, touched files, new rows): compute it once.
        source = source.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return self._merge(source, table, path, name, schema, partition_by, keys, txn)
        finally:
            source.unpersist()

    def _merge(self, source, table, path, name, schema, partition_by, keys, txn) -> WriteResult:
        from deltalake.transaction import RemoveAction

        dupes = source.groupBy(*keys).count().filter("count > 1").limit(1).collect()
        if dupes:
            raise ShopRankError(f"merge into {name}: source has duplicate keys, e.g. {dupes[0].asDict()}")
        actions_tbl = table.get_add_actions(flatten=True)
        files = pa.table(actions_tbl).to_pylist() if actions_tbl.num_rows else []
        removes, rewrite = [], None
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
                rewrite = kept
        out = source.select(*schema.names)
        out = out.unionByName(rewrite) if rewrite is not None else out
        adds, rows = self._write_files(out, path, schema, partition_by, cluster=bool(partition_by))
        version = self._commit(path, adds + removes, "append", schema, partition_by, None, txn,
                               {"shoprank.operation": "merge", "shoprank.rows": str(rows)})
        return WriteResult(name, version, len(adds), rows)

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
        fs, root = filesystem(path)
        cutoff = time.time() - retention_hours * 3600
        for entry in fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True)):
            if entry.type != pyarrow.fs.FileType.Directory or not entry.base_name.startswith("w-"):
                continue
            temp = f"{entry.path}/_temporary"
            info = fs.get_file_info(temp)
            if info.type == pyarrow.fs.FileType.Directory and info.mtime.timestamp() <= cutoff:
                leftovers = fs.get_file_info(pyarrow.fs.FileSelector(temp, recursive=True))
                removed += [f.path for f in leftovers if f.type == pyarrow.fs.FileType.File]
                fs.delete_dir(temp)
        return removed


class SparkDeltaEngine:
    """delta-spark with the cluster's jars: Delta's own writer, MERGE and maintenance."""

    name = "spark"

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

    def _ensure(self, path: str, schema: StructType, partition_by: list[str]) -> None:
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


class TableStore:
    """Stages call this by table name; nothing else knows paths or formats."""

    def __init__(self, spark: SparkSession, warehouse: str, engine: str = "auto"):
        self.spark = spark
        self.warehouse = warehouse if "://" in warehouse else os.path.abspath(warehouse)
        if engine == "auto":
            engine = "spark" if has_delta_jars(spark) else "delta-rs"
        if engine == "spark" and not has_delta_jars(spark):
            raise ShopRankError("storage.engine='spark' but the session has no Delta extension/jars; "
                                "use engine='delta-rs' or 'auto'")
        self.engine = SparkDeltaEngine(spark) if engine == "spark" else DeltaRsEngine(spark)
        log.info("table store at %s, engine %s", self.warehouse, self.engine.name)

    def path(self, table: str) -> str:
        return f"{self.warehouse.rstrip('/')}/{table}"

    @staticmethod
    def spec(table: str) -> tuple[StructType, list[str]]:
        if table not in TABLES:
            raise ShopRankError(f"unknown table '{table}'; expected one of {sorted(TABLES)}")
        return TABLES[table]

    def exists(self, table: str) -> bool:
        return self.engine.exists(self.path(table))

    def replace_partition(self, df: DataFrame, table: str, run_date: dt.date,
                          txn_version: int | None = None) -> WriteResult:
        """Overwrite the run-date partition (replaceWhere): a re-run never duplicates."""
        schema, parts = self.spec(table)
        df = conform(df, schema, table)
        txn = (f"shoprank/{table}/{run_date.isoformat()}", txn_version) if txn_version else None
        result = self.engine.write(df, self.path(table), table, schema, parts, "overwrite",
                                   {"run_date": run_date}, txn)
        log.info("wrote %s run_date=%s: %d rows, %d files, version %s%s", table, run_date,
                 result.rows, result.files, result.version, " (skipped: already applied)" if result.skipped else "")
        return result

    def append(self, df: DataFrame, table: str, txn: tuple[str, int] | None = None) -> WriteResult:
        schema, parts = self.spec(table)
        return self.engine.write(conform(df, schema, table), self.path(table), table, schema, parts,
                                 "append", None, txn)

    def merge(self, df: DataFrame, table: str, keys: list[str],
              txn: tuple[str, int] | None = None) -> WriteResult:
        schema, parts = self.spec(table)
        result = self.engine.merge(conform(df, schema, table), self.path(table), table, schema,
                                   parts, keys, txn)
        log.info("merged into %s: %d rows written, version %s", table, result.rows, result.version)
        return result

    def read(self, table: str, run_date: dt.date | None = None, version: int | None = None,
             timestamp: str | None = None) -> DataFrame:
        schema, _ = self.spec(table)
        if not self.exists(table):
            raise ShopRankError(f"table '{table}' does not exist at {self.path(table)}; "
                                "run the stage that writes it first")
        where = {"run_date": run_date} if run_date is not None else None
        df = self.engine.read(self.path(table), schema, version, timestamp, where=where)
        if run_date is not None:  # the engines prune files; this keeps the contract exact
            df = df.filter(F.col("run_date") == F.lit(run_date))
        return df

    def history(self, table: str) -> list[dict]:
        return self.engine.history(self.path(table))

    def version(self, table: str) -> int:
        return self.engine.version(self.path(table))

    def optimize(self, table: str) -> dict:
        return self.engine.optimize(self.path(table))

    def vacuum(self, table: str, retention_hours: float = 168) -> list[str]:
        return self.engine.vacuum(self.path(table), retention_hours)
