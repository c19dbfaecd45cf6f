"""Readers for raw inputs: CSV (header or not), JSON lines, Parquet and Delta.

Every reader returns the same raw shape: `fields` (source column -> string
value; a struct when the columns are known up front, a map for JSON lines),
`raw` (the record as it arrived), `source_file`, `parse_error`.
Values stay strings here; typing is validation's job, so a bad value becomes
a quarantine row with a reason instead of a reader failure. Schemas are
explicit: CSV columns come from the header line or from config; JSON is parsed
as a string map; Parquet and Delta carry their own schema.
"""

from __future__ import annotations

import csv
import io
import logging
import re

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from shoprank.errors import InputError

log = logging.getLogger(__name__)


def _strip_path(path: str) -> str:
    return path.rstrip("/")


def _header_names(spark: SparkSession, path: str, delimiter: str) -> tuple[str, list[str]]:
    """The header line of the first file (one line read, not the data)."""
    first = spark.read.text(path).limit(1).collect()
    if not first:
        raise InputError(f"{path}: expected a CSV header line, found an empty input")
    line = first[0].value
    split = next(csv.reader(io.StringIO(line), delimiter=delimiter)) if len(delimiter) == 1 else line.split(delimiter)
    names = [n.strip() for n in split]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{path}: expected unique column names in the header, found {repeated} repeated")
    return line, names


def read_csv(spark: SparkSession, path: str, header: bool, columns: tuple[str, ...],
             delimiter: str = ",") -> DataFrame:
    text = spark.read.text(path).select(
        F.col("value").alias("raw"), F.col("_metadata.file_path").alias("source_file"))
    if header:
        header_line, names = _header_names(spark, path, delimiter)
        if columns and list(columns) != names:
            log.warning("%s: header %s differs from configured columns %s; using the header",
                        path, names, list(columns))
        text = text.filter(F.col("raw") != F.lit(header_line))
    elif columns:
        names = list(columns)
    else:
        raise InputError(f"{path}: header-less CSV needs input.*_columns in the config")
    text = text.filter(F.trim("raw") != "")  # blank lines carry no record
    return _parse_lines(text, names, delimiter)


def _parse_lines(text: DataFrame, names: list[str], delimiter: str) -> DataFrame:
    """`fields` (a struct of `names`) and `parse_error` (wrong field count) per line.

    Lines without a quote are split on the delimiter: about three times cheaper than
    from_csv plus a field count, and most lines have no quote. Lines with one go
    through from_csv, with the delimiters outside quotes counted. As in from_csv,
    an empty field is null. Each parse sits in a column of its own: inlined, every
    field access would repeat it."""
    line, quoted = F.col("raw"), F.col("_quoted")
    schema = ", ".join(f"c{i} string" for i in range(len(names)))
    # re.escape's output is a valid Java regex too, and one escaped character keeps
    # Java's String.split on its fast path.
    text = (text.withColumn("_quoted", line.contains('"'))
            .withColumn("_parts", F.when(~quoted, F.split(line, re.escape(delimiter), -1)))
            .withColumn("_csv", F.when(quoted, F.from_csv(line, schema, {"sep": delimiter, "mode": "PERMISSIVE"}))))

    def field(i: int) -> Column:
        part = F.try_element_at(F.col("_parts"), F.lit(i + 1))
        return F.when(quoted, F.col("_csv")[f"c{i}"]).otherwise(F.when(part != "", part))

    outside_quotes = F.regexp_replace(line, '"[^"]*"', "")
    delimiters = (F.length(outside_quotes) - F.length(F.replace(outside_quotes, F.lit(delimiter), F.lit(""))))
    n_fields = F.when(quoted, (delimiters / len(delimiter) + 1).cast("int")).otherwise(F.size("_parts"))
    n = len(names)
    return text.select(
        F.struct(*[field(i).alias(c) for i, c in enumerate(names)]).alias("fields"),
        "raw",
        "source_file",
        F.when(n_fields != n, F.concat(F.lit(f"malformed_line: expected {n} fields, found "),
                                       n_fields.cast("string"))).alias("parse_error"),
    )


def read_json_lines(spark: SparkSession, path: str) -> DataFrame:
    text = spark.read.text(path).select(
        F.col("value").alias("raw"), F.col("_metadata.file_path").alias("source_file"))
    text = text.filter(F.trim("raw") != "")
    text = text.withColumn("_parsed", F.from_json("raw", "map<string,string>", {"mode": "PERMISSIVE"}))
    fields = F.col("_parsed")
    return text.select(
        F.coalesce(fields, F.create_map().cast("map<string,string>")).alias("fields"),
        "raw",
        "source_file",
        F.when(fields.isNull(), F.lit("bad_json: not a JSON object")).alias("parse_error"),
    )


def _from_typed(df: DataFrame) -> DataFrame:
    cols = df.columns
    return df.select(
        F.struct(*[F.col(c).cast("string").alias(c) for c in cols]).alias("fields"),
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

    fields_type = records.schema["fields"].dataType
    known = fields_type.names if isinstance(fields_type, StructType) else None

    def value(name: str) -> Column:
        if known is not None and name not in known:
            return F.lit(None).cast("string")
        v = F.trim(F.col("fields")[name])
        return F.when(v != "", v)

    # `extra` is key-sorted, so equal extras have equal entry arrays (deduplication
    # compares them; maps themselves are not comparable in Spark).
    if known is None:  # a map (JSON lines): keys vary per record
        extra = F.map_from_entries(F.array_sort(F.map_entries(
            F.map_filter("fields", lambda k, _v: ~k.isin(used)))))
    else:  # a struct (CSV, Parquet, Delta): the other columns are known up front
        rest = sorted(c for c in known if c not in used)
        extra = (F.create_map(*[x for c in rest for x in (F.lit(c), F.col("fields")[c])]) if rest
                 else F.create_map()).cast("map<string,string>")
    return records.select(
        *[value(src).alias(c) for c, src in sources.items()],
        extra.alias("extra"), "raw", "source_file", "parse_error",
    )
