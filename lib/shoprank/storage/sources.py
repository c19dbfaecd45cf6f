"""Readers for raw inputs: CSV (header or not), JSON lines, Parquet and Delta.

Every reader returns the same raw shape: `fields` (map of source column ->
string value), `raw` (the record as it arrived), `source_file`, `parse_error`.
Values stay strings here; typing is validation's job, so a bad value becomes
a quarantine row with a reason instead of a reader failure. Schemas are
explicit: CSV columns come from the header line or from config; JSON is parsed
as a string map; Parquet and Delta carry their own schema.
"""

from __future__ import annotations

import csv
import io
import logging

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from shoprank.errors import InputError

log = logging.getLogger(__name__)


def _strip_path(path: str) -> str:
    return path.rstrip("/")


def _header_names(spark: SparkSession, path: str) -> tuple[str, list[str]]:
    """The header line of the first file (one line read, not the data)."""
    first = spark.read.text(path).limit(1).collect()
    if not first:
        raise InputError(f"{path}: expected a CSV header line, found an empty input")
    line = first[0].value
    names = next(csv.reader(io.StringIO(line)))
    return line, [n.strip() for n in names]


def read_csv(spark: SparkSession, path: str, header: bool, columns: tuple[str, ...],
             delimiter: str = ",") -> DataFrame:
    text = spark.read.text(path).select(
        F.col("value").alias("raw"), F.col("_metadata.file_path").alias("source_file"))
    if header:
        header_line, names = _header_names(spark, path)
        if columns and list(columns) != names:
            log.warning("%s: header %s differs from configured columns %s; using the header",
                        path, names, list(columns))
        text = text.filter(F.col("raw") != F.lit(header_line))
    elif columns:
        names = list(columns)
    else:
        raise InputError(f"{path}: header-less CSV needs input.*_columns in the config")
    text = text.filter(F.trim("raw") != "")  # blank lines carry no record
    n = len(names)
    schema = ", ".join(f"c{i} string" for i in range(n))
    parsed = F.from_csv("raw", schema, {"sep": delimiter, "mode": "PERMISSIVE"})
    # Field count = delimiters outside quotes + 1 (from_csv alone pads or truncates).
    unquoted = F.regexp_replace("raw", '"[^"]*"', "")
    n_fields = F.size(F.split(unquoted, F.lit(delimiter) if delimiter != "|" else F.lit("\\|"), -1))
    return text.select(
        F.map_from_arrays(F.array(*[F.lit(c) for c in names]),
                          F.array(*[parsed[f"c{i}"] for i in range(n)])).alias("fields"),
        "raw",
        "source_file",
        F.when(n_fields != n, F.concat(F.lit(f"malformed_line: expected {n} fields, found "),
                                       n_fields.cast("string"))).alias("parse_error"),
    )


def read_json_lines(spark: SparkSession, path: str) -> DataFrame:
    text = spark.read.text(path).select(
        F.col("value").alias("raw"), F.col("_metadata.file_path").alias("source_file"))
    text = text.filter(F.trim("raw") != "")
    fields = F.from_json("raw", "map<string,string>", {"mode": "PERMISSIVE"})
    return text.select(
        F.coalesce(fields, F.create_map().cast("map<string,string>")).alias("fields"),
        "raw",
        "source_file",
        F.when(fields.isNull(), F.lit("bad_json: not a JSON object")).alias("parse_error"),
    )


def _from_typed(df: DataFrame) -> DataFrame:
    cols = df.columns
    as_text = [F.col(c).cast("string") for c in cols]
    return df.select(
        F.map_from_arrays(F.array(*[F.lit(c) for c in cols]), F.array(*as_text)).alias("fields"),
        F.to_json(F.struct(*cols)).alias("raw"),
        F.col("_metadata.file_path").alias("source_file"),
        F.lit(None).cast("string").alias("parse_error"),
    )


def read_records(spark: SparkSession, path: str, fmt: str, header: bool = True,
                 columns: tuple[str, ...] = (), delimiter: str = ",") -> DataFrame:
    """Raw records of one input, in the common raw shape."""
    path = _strip_path(path)
    try:
        if fmt == "csv":
            return read_csv(spark, path, header, columns, delimiter)
        if fmt == "json":
            return read_json_lines(spark, path)
        if fmt == "parquet":
            # Parquet files carry their schema; nothing is inferred from values.
            return _from_typed(spark.read.parquet(path))
        if fmt == "delta":
            from shoprank.storage.tables import DeltaRsEngine, SparkDeltaEngine, has_delta_jars

            engine = SparkDeltaEngine(spark) if has_delta_jars(spark) else DeltaRsEngine(spark)
            return _from_typed(engine.read(path, None))
    except InputError:
        raise
    except Exception as exc:  # Spark's AnalysisException for missing paths, etc.
        raise InputError(f"cannot read {fmt} input at {path}: {str(exc).splitlines()[0]}") from exc
    raise InputError(f"unknown input format '{fmt}'; expected csv, json, parquet or delta")


def canonical_columns(records: DataFrame, canonical: list[str], renames: dict[str, str]) -> DataFrame:
    """Pick canonical columns out of `fields` (renamed per config); keep the rest as `extra`."""
    sources = {c: renames.get(c, c) for c in canonical}
    used = list(sources.values()) + [v for k, v in renames.items() if k not in sources]

    def value(name: str) -> Column:
        v = F.trim(F.col("fields")[name])
        return F.when(v != "", v)

    extra = F.map_filter("fields", lambda k, _v: ~k.isin(used))
    return records.select(
        *[value(src).alias(c) for c, src in sources.items()],
        extra.alias("extra"), "raw", "source_file", "parse_error",
    )
