"""Readers for raw inputs: CSV (header or not), JSON lines, Parquet and Delta.

Every reader returns the canonical raw shape: the canonical columns (strings,
trimmed, empty -> null), `extra` (the other source columns, key-sorted), `raw` (the
record as it arrived, decoded), `raw_base64` (the record's exact bytes when they
cannot be decoded), `source_file` (Spark's URI of the file; `source_location` makes it
readable) and `parse_error`. Values stay strings; typing is
validation's job, so a bad value becomes a quarantine row with a reason instead of a
reader failure. What cannot be read as configured stops the night with an
`InputError` naming the file: a missing required column, an unreadable header.

CSV follows RFC 4180. Every file is read with its own header: files are grouped by
header line and each group is parsed with its own column order. Quoted fields may
hold delimiters, doubled quotes and line breaks; a file with a record spanning
lines (found by one scan for lines with an odd number of quotes) is split into
records on the executors, keeping each record's bytes exactly.

Encoding is explicit (`input.encoding`). In UTF-8 (the default) or US-ASCII, a
record with bytes that are not valid in the encoding is never replaced or guessed:
it gets `parse_error` "bad_encoding" and its bytes in `raw_base64`. ISO-8859-1
decodes every byte.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from shoprank.errors import InputError
from shoprank.storage import fs

log = logging.getLogger(__name__)

ENCODINGS = {"utf-8": "UTF-8", "utf8": "UTF-8", "us-ascii": "US-ASCII", "ascii": "US-ASCII",
             "iso-8859-1": "ISO-8859-1", "latin-1": "ISO-8859-1", "latin1": "ISO-8859-1"}
WHITESPACE = " \t\r\n\f\v"
BOM = "\ufeff"
# A record may span at most this many lines; past it, an unbalanced quote is taken
# as an error of its first line (malformed), not as a field swallowing the file.
MAX_RECORD_LINES = 1000


@dataclass(frozen=True)
class InputSpec:
    location: str
    fmt: str  # csv | json | parquet | delta
    canonical: tuple[str, ...]  # columns to extract, in output order
    required: tuple[str, ...] = ()  # canonical columns every file must carry
    renames: dict[str, str] = field(default_factory=dict)  # canonical -> source column
    header: bool = True
    columns: tuple[str, ...] = ()  # header-less CSV: source columns in file order
    delimiter: str = ","
    encoding: str = "utf-8"

    def source(self, canonical: str) -> str:
        return self.renames.get(canonical, canonical)


def read_input(spark: SparkSession, spec: InputSpec) -> DataFrame:
    """Raw records of one input in the canonical raw shape."""
    if spec.encoding.lower() not in ENCODINGS:
        raise InputError(f"input encoding '{spec.encoding}' is not supported; expected one of "
                         f"{sorted(set(ENCODINGS))}")
    try:
        if spec.fmt == "csv":
            return _read_csv(spark, spec)
        if spec.fmt == "json":
            return _read_json_lines(spark, spec)
        if spec.fmt == "parquet":
            return _read_parquet(spark, spec)
        if spec.fmt == "delta":
            return _read_delta(spark, spec)
    except InputError:
        raise
    except Exception as exc:  # Spark's AnalysisException for unreadable paths, etc.
        raise InputError(f"cannot read {spec.fmt} input at {spec.location}: {str(exc).splitlines()[0]}") from exc
    raise InputError(f"unknown input format '{spec.fmt}'; expected csv, json, parquet or delta")


# ----------------------------------------------------------------- files
def input_files(location: str) -> list[str]:
    """The data files of an input: the file itself, or every file under the folder, as
    absolute locations: Spark names the files it reads so, and the files whose records
    span lines are told apart by those names (a relative folder once matched none)."""
    location = fs.absolute(location)
    filesystem, path = fs.resolve(location)
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [location]
    files = fs.list_files(location) if info.type == pafs.FileType.Directory else []
    if not files:
        raise InputError(f"no input files at {location}")
    return files


def _open_text(location: str, limit: int) -> bytes:
    """The first `limit` bytes of a file, decompressed by extension as Spark does."""
    filesystem, path = fs.resolve(location)
    with filesystem.open_input_stream(path, compression="detect") as fh:
        return fh.read(limit)


def source_location(path: Column) -> Column:
    """Spark's file URI (`file:/a%20b`) -> the location as listed (`/a b`). Applied only
    where a row's file is shown (quarantine): per row it costs a second a pass at 10M."""
    return F.regexp_replace(F.url_decode(path), r"^file:(//)?", "")


def _spark_location(path: str) -> str:
    return re.sub(r"^file:(//)?", "", unquote(path))


# -------------------------------------------------------------- decoding
def _decoded(lines: DataFrame, encoding: str) -> DataFrame:
    """`value` (the line's bytes, as Spark reads them) -> `raw` (decoded text, null if
    undecodable), `raw_base64` (the bytes when undecodable), `_encoding_error`."""
    charset = ENCODINGS[encoding.lower()]
    value = F.col("value")
    if charset == "ISO-8859-1":
        text, valid = F.decode(value.cast("binary"), charset), F.lit(True)
    else:
        valid = F.is_valid_utf8(value)
        if charset == "US-ASCII":
            valid = valid & ~value.rlike(r"[^\x00-\x7F]")
        text = value
    # A byte-order mark opens a file's first line only; it is not part of the data.
    text = F.when(text.startswith(BOM), F.substring(text, 2, 1 << 30)).otherwise(text)
    error = F.lit(f"bad_encoding: bytes not valid {charset}; the record's bytes are in raw_base64")
    # Each piece once, in its own column: the generated code stays small enough for
    # the JIT (a stage whose code outgrows it runs several times slower).
    checked = lines.select("value", "source_file", valid.alias("_valid"))
    return checked.select(
        F.when(F.col("_valid"), text).alias("raw"),
        F.when(~F.col("_valid"), F.base64(value.cast("binary"))).alias("raw_base64"),
        "source_file",
        F.when(~F.col("_valid"), error).alias("_encoding_error"),
    )


def _as_read(value: Column, encoding: str) -> Column:
    """A line as text to compare with a header read on the driver: UTF-8 and ASCII
    lines compare as they are, ISO-8859-1 lines once decoded."""
    charset = ENCODINGS[encoding.lower()]
    return F.decode(value.cast("binary"), charset) if charset == "ISO-8859-1" else value


def _text_lines(spark: SparkSession, files: list[str]) -> DataFrame:
    return spark.read.text(files).select("value", F.col("_metadata.file_path").alias("source_file"))


def _odd_quote_files(spark: SparkSession, files: list[str]) -> set[str]:
    """Files holding a line with an odd number of quotes: a record spans lines there.
    One scan of the text; only file names come back."""
    lines = spark.read.text(files)
    quotes = F.length("value") - F.length(F.replace("value", F.lit('"'), F.lit("")))
    found = lines.filter(F.col("value").contains('"') & (quotes % 2 == 1)).select(
        F.col("_metadata.file_path").alias("f")).distinct().collect()
    return {_spark_location(r.f) for r in found}


OPEN, CLOSED, BROKEN = "open", "closed", "broken"


def quote_state(record: bytes, delimiter: bytes) -> str:
    """OPEN when `record` ends inside a quoted field, BROKEN when a quoted field's
    closing quote is followed by anything but a delimiter, else CLOSED. RFC 4180: a
    quote opens a field only at the field's start; inside, a doubled quote is a quote."""
    i, n = 0, len(record)
    while i < n:
        if record[i:i + 1] == b'"':  # a quoted field: find its closing quote
            j = i + 1
            while True:
                k = record.find(b'"', j)
                if k < 0:
                    return OPEN
                if record[k + 1:k + 2] != b'"':
                    break
                j = k + 2
            i = k + 1
            if i < n and not record.startswith(delimiter, i):
                return BROKEN
        k = record.find(delimiter, i)  # the rest of this field holds no opening quote
        if k < 0:
            return CLOSED
        i = k + len(delimiter)
    return CLOSED


def _records(content: bytes, path: str, delimiter: bytes) -> Iterator[bytes]:
    """RFC 4180 records of one file's bytes: lines joined while a quoted field is
    open, their line breaks kept as they were; a record's final break dropped. A
    join that does not end in a well-formed record is undone: the opening line
    alone is the (malformed) record, and the lines after it are read anew."""
    if path.endswith(".gz"):
        content = gzip.decompress(content)
    elif path.endswith(".bz2"):
        content = bz2.decompress(content)
    lines = content.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        j, record = i, lines[i]
        if b'"' in record and quote_state(record.rstrip(b"\r\n"), delimiter) == OPEN:
            state = OPEN
            while state == OPEN and j + 1 < len(lines) and j - i < MAX_RECORD_LINES:
                j += 1
                record += lines[j]
                state = quote_state(record.rstrip(b"\r\n"), delimiter)
            if state != CLOSED:
                j, record = i, lines[i]
        yield record.rstrip(b"\r\n")
        i = j + 1


def _stitched_lines(spark: SparkSession, files: list[str], delimiter: str, encoding: str) -> DataFrame:
    """Records of files whose records span lines, split on the executors."""
    out = pa.schema([("value", pa.binary()), ("source_file", pa.string())])
    delim = delimiter.encode(ENCODINGS[encoding.lower()])

    def split(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for content, path in zip(batch.column("content").to_pylist(), batch.column("path").to_pylist(),
                                     strict=True):
                records = list(_records(content, _spark_location(path), delim))
                uri = quote(path, safe="/:")  # as the text reader names files
                yield pa.RecordBatch.from_arrays([pa.array(records, pa.binary()),
                                                  pa.array([uri] * len(records), pa.string())], schema=out)

    binary = spark.read.format("binaryFile").load(files).select("path", "content")
    return (binary.mapInArrow(split, "value binary, source_file string")
            .select(F.col("value").cast("string").alias("value"), "source_file"))


# ------------------------------------------------------------------- CSV
def _split_header(line: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(line), delimiter=delimiter)) if len(delimiter) == 1 else line.split(delimiter)


def _header(location: str, encoding: str) -> str | None:
    """The first line of a file, decoded (None for an empty file)."""
    head = _open_text(location, 1 << 20)
    if not head.strip():
        return None
    line = head.splitlines()[0]
    try:
        text = line.decode(ENCODINGS[encoding.lower()])
    except UnicodeDecodeError:
        raise InputError(f"{location}: the header line is not valid {encoding}") from None
    return text[1:] if text.startswith(BOM) else text


def _column_names(location: str, line: str, delimiter: str) -> list[str]:
    names = [n.strip(WHITESPACE) or f"_c{i}" for i, n in enumerate(_split_header(line, delimiter))]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{location}: expected unique column names in the header, found {repeated} repeated")
    return names


def _require(location: str, names: list[str], spec: InputSpec, where: str) -> None:
    missing = [c for c in spec.required if spec.source(c) not in names]
    if missing:
        columns = ", ".join(f"'{spec.source(c)}'" + (f" (for {c})" if spec.source(c) != c else "") for c in missing)
        raise InputError(f"{location}: {where} has no column {columns}; found {names}")


def _read_csv(spark: SparkSession, spec: InputSpec) -> DataFrame:
    files = input_files(spec.location)
    groups: dict[str | None, list[str]] = {}
    names_of: dict[str | None, list[str]] = {}
    if spec.header:
        for f in files:
            line = _header(f, spec.encoding)
            if line is None:
                log.warning("%s: empty file, no records", f)
                continue
            if line not in names_of:
                names_of[line] = _column_names(f, line, spec.delimiter)
            _require(f, names_of[line], spec, "the header")
            groups.setdefault(line, []).append(f)
        if len(groups) > 1:
            log.info("%s: %d different headers; each file is read with its own", spec.location, len(groups))
    elif spec.columns:
        _require(spec.location, list(spec.columns), spec, "input.*_columns")
        groups[None], names_of[None] = files, list(spec.columns)
    else:
        raise InputError(f"{spec.location}: header-less CSV needs input.*_columns in the config")
    if not groups:
        raise InputError(f"{spec.location}: every input file is empty")
    multiline = _odd_quote_files(spark, [f for fs_ in groups.values() for f in fs_])
    parts = []
    for line, group in groups.items():
        single = [f for f in group if f not in multiline]
        spanning = [f for f in group if f in multiline]
        if spanning:
            log.info("%d file(s) hold records spanning lines (quoted line breaks): %s", len(spanning), spanning[:5])
        lines = [_text_lines(spark, single)] if single else []
        lines += [_stitched_lines(spark, spanning, spec.delimiter, spec.encoding)] if spanning else []
        text = lines[0] if len(lines) == 1 else lines[0].unionByName(lines[1])
        # Headers and blank lines go before decoding: filtered after it, Spark would
        # repeat the decoding's checks inside the filter for every line.
        as_read = _as_read(F.col("value"), spec.encoding)
        if line is not None:  # the header of every file in the group, with or without a byte-order mark
            text = text.filter(~as_read.isin(line, BOM + line))
        text = text.filter(F.btrim("value", F.lit(WHITESPACE)) != "")
        records = _decoded(text, spec.encoding)
        parts.append(_canonical(_parse_lines(records, names_of[line], spec.delimiter), spec))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def _parse_lines(text: DataFrame, names: list[str], delimiter: str) -> DataFrame:
    """`fields` (a struct of `names`) and `parse_error` (bad encoding, wrong field
    count, a quoted field never closed) per record.

    Lines without a quote are split on the delimiter: about three times cheaper than
    from_csv plus a field count, and most lines have no quote. Lines with one go
    through from_csv (RFC 4180: a doubled quote is a quote), checked against the
    RFC's field grammar, with the delimiters outside quoted fields counted. As in
    from_csv, an empty field is null. Each parse sits in a column of its own:
    inlined, every field access would repeat it."""
    line, quoted = F.col("raw"), F.col("_quoted")
    schema = ", ".join(f"c{i} string" for i in range(len(names)))
    # re.escape's output is a valid Java regex too, and one escaped character keeps
    # Java's String.split on its fast path.
    d = re.escape(delimiter)
    options = {"sep": delimiter, "escape": '"', "mode": "PERMISSIVE"}
    text = (text.withColumn("_quoted", line.contains('"'))
            .withColumn("_parts", F.when(~quoted, F.split(line, d, -1)))
            .withColumn("_csv", F.when(quoted, F.from_csv(line, schema, options))))

    def value(i: int) -> Column:
        part = F.try_element_at(F.col("_parts"), F.lit(i + 1))
        return F.when(quoted, F.col("_csv")[f"c{i}"]).otherwise(F.when(part != "", part))

    # A field is quoted ("..." with "" inside, ending at a delimiter or the end) or
    # does not start with a quote (a quote further in is text, as parsers allow). With
    # the well-formed quoted fields taken out, a field still starting with a quote is
    # one never closed, or closed and followed by more text.
    text = text.withColumn("_unquoted", F.when(quoted, F.regexp_replace(
        line, f'(?s)(^|{d})"(?:[^"]|"")*"(?={d}|$)', "$1")))
    unquoted = F.col("_unquoted")
    delimiters = (F.length(unquoted) - F.length(F.replace(unquoted, F.lit(delimiter), F.lit("")))) / len(delimiter)
    text = text.withColumn("_n", F.when(quoted, (delimiters + 1).cast("int")).otherwise(F.size("_parts")))
    text = text.withColumn("_broken", quoted & unquoted.rlike(f'(^|{d})"'))
    n = len(names)
    shape_error = (F.when(F.col("_broken"), F.lit("malformed_line: a quoted field is not closed before a "
                                                  "delimiter or the end of the record"))
                   .when(line.isNotNull() & (F.col("_n") != n), F.concat(
                       F.lit(f"malformed_line: expected {n} fields, found "), F.col("_n").cast("string"))))
    return text.select(
        F.struct(*[value(i).alias(c) for i, c in enumerate(names)]).alias("fields"),
        "raw", "raw_base64", "source_file",
        F.coalesce("_encoding_error", shape_error).alias("parse_error"),
    )


# ------------------------------------------------------------ JSON lines
def _read_json_lines(spark: SparkSession, spec: InputSpec) -> DataFrame:
    lines = _text_lines(spark, input_files(spec.location)).filter(F.btrim("value", F.lit(WHITESPACE)) != "")
    text = _decoded(lines, spec.encoding)
    parsed = F.from_json("raw", "map<string,string>", {"mode": "PERMISSIVE"})
    text = text.withColumn("_parsed", parsed)
    records = text.select(
        F.coalesce("_parsed", F.create_map().cast("map<string,string>")).alias("fields"),
        "raw", "raw_base64", "source_file",
        F.coalesce("_encoding_error", F.when(F.col("_parsed").isNull(), F.lit("bad_json: not a JSON object")))
        .alias("parse_error"),
    )
    return _canonical(records, spec)


# ----------------------------------------------------- Parquet and Delta
def _from_typed(df: DataFrame, file_path: Column) -> DataFrame:
    """Typed columns -> string fields; a value that is not valid UTF-8 (Parquet strings
    can hold any bytes) makes the record bad_encoding, its JSON kept in base64."""
    cols = df.columns
    strings = [F.col(c).cast("string") for c in cols]
    valid = F.lit(True)
    for s in strings:
        valid = valid & F.coalesce(F.is_valid_utf8(s), F.lit(True))
    as_json = F.to_json(F.struct(*cols))
    return df.select(
        F.struct(*[s.alias(c) for s, c in zip(strings, cols, strict=True)]).alias("fields"),
        F.when(valid, as_json).alias("raw"),
        F.when(~valid, F.base64(as_json.cast("binary"))).alias("raw_base64"),
        file_path.alias("source_file"),
        F.when(~valid, F.lit("bad_encoding: a value is not valid UTF-8; the record's bytes are in raw_base64"))
        .alias("parse_error"),
    )


def _read_parquet(spark: SparkSession, spec: InputSpec) -> DataFrame:
    """Parquet files carry their schema; each file is checked for the required
    columns, and files with different schemas are read apart (by name, then unioned)."""
    groups: dict[str, list[str]] = {}
    for f in input_files(spec.location):
        filesystem, path = fs.resolve(f)
        schema = pq.read_schema(filesystem.open_input_file(path))
        _require(f, schema.names, spec, "the Parquet schema")
        groups.setdefault(str(schema), []).append(f)
    parts = [_canonical(_from_typed(df, F.col("_metadata.file_path")), spec)
             for df in (spark.read.parquet(*files) for files in groups.values())]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def _read_delta(spark: SparkSession, spec: InputSpec) -> DataFrame:
    from shoprank.storage.tables import DeltaRsEngine, SparkDeltaEngine, has_delta_jars

    engine = SparkDeltaEngine(spark) if has_delta_jars(spark) else DeltaRsEngine(spark)
    location = fs.absolute(spec.location)
    if not engine.exists(location):
        raise InputError(f"no Delta table at {spec.location}")
    df = engine.read(location, None)
    _require(spec.location, df.columns, spec, "the Delta table")
    return _canonical(_from_typed(df, F.lit(location)), spec)


# ------------------------------------------------------------- canonical
def _canonical(records: DataFrame, spec: InputSpec) -> DataFrame:
    return canonical_columns(records, list(spec.canonical), spec.renames)


def canonical_columns(records: DataFrame, canonical: list[str], renames: dict[str, str]) -> DataFrame:
    """Pick canonical columns out of `fields` (renamed per config); keep the rest as `extra`."""
    sources = {c: renames.get(c, c) for c in canonical}
    used = list(sources.values()) + [v for k, v in renames.items() if k not in sources]

    fields_type = records.schema["fields"].dataType
    known = fields_type.names if isinstance(fields_type, StructType) else None

    def value(canonical: str, name: str) -> Column:
        if known is not None and name not in known:
            return F.lit(None).cast("string")
        # Ids lose any surrounding whitespace (a tab would make another id); other
        # fields only spaces, which is half the cost (their parse rejects the rest).
        field = F.col("fields")[name]
        v = F.btrim(field, F.lit(WHITESPACE)) if canonical.endswith("_id") else F.trim(field)
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
        *[value(c, src).alias(c) for c, src in sources.items()],
        extra.alias("extra"), "raw", "raw_base64", "source_file", "parse_error",
    )
