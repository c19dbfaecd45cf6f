"""Raw input readers on small files: every file with its own header, RFC 4180 CSV,
explicit encodings, JSON lines, Parquet and Delta, and typed errors naming the file."""

import base64
import gzip

import pytest
from pyspark.sql import functions as F

from shoprank.errors import InputError
from shoprank.storage.sources import InputSpec, read_input
from tests.conftest import rows

ACTIONS = ("user_id", "item_id", "action", "ts")


def spec(path, fmt="csv", **kw):
    kw.setdefault("required", ACTIONS)
    return InputSpec(str(path), fmt, ACTIONS, **kw)


def read(spark, path, fmt="csv", cols=("user_id", "item_id", "action", "ts", "extra", "parse_error"), **kw):
    return rows(read_input(spark, spec(path, fmt, **kw)).select(*cols), *cols[:2])


@pytest.mark.parametrize("sep", [",", "|"])
def test_csv_with_header_keeps_extras_and_flags_field_count(spark, tmp_path, sep):
    f = tmp_path / "a.csv"
    f.write_text('user_id,item_id,action,ts,device\n'
                 'u1,i1,view,100,web\n'
                 'u2,"i,2",click,200,\n'
                 'u3,i3,view,300,web,extra\n'
                 '\n'
                 'u4,i4,view\n'
                 'u5,,view,400,"a,b"\n'.replace(",", sep))
    assert read(spark, f, delimiter=sep) == [
        {"user_id": "u1", "item_id": "i1", "action": "view", "ts": "100", "extra": {"device": "web"},
         "parse_error": None},
        {"user_id": "u2", "item_id": f"i{sep}2", "action": "click", "ts": "200", "extra": {"device": None},
         "parse_error": None},
        {"user_id": "u3", "item_id": "i3", "action": "view", "ts": "300", "extra": {"device": "web"},
         "parse_error": "malformed_line: expected 5 fields, found 6"},
        {"user_id": "u4", "item_id": "i4", "action": "view", "ts": None, "extra": {"device": None},
         "parse_error": "malformed_line: expected 5 fields, found 3"},
        {"user_id": "u5", "item_id": None, "action": "view", "ts": "400", "extra": {"device": f"a{sep}b"},
         "parse_error": None},
    ]


def test_every_file_is_read_with_its_own_header(spark, tmp_path):
    (tmp_path / "a.csv").write_text("user_id,item_id,action,ts\nu1,i1,view,100\n")
    (tmp_path / "b.csv").write_text("ts,action,item_id,user_id,device\n200,click,i2,u2,ios\n")
    (tmp_path / "c.csv").write_text("")  # an empty file holds no records
    assert read(spark, tmp_path, cols=("user_id", "item_id", "action", "ts", "extra")) == [
        {"user_id": "u1", "item_id": "i1", "action": "view", "ts": "100", "extra": {}},
        {"user_id": "u2", "item_id": "i2", "action": "click", "ts": "200", "extra": {"device": "ios"}},
    ]


def test_a_file_without_a_required_column_is_an_error_naming_file_and_column(spark, tmp_path):
    (tmp_path / "a.csv").write_text("user_id,item_id,action,ts\nu1,i1,view,100\n")
    (tmp_path / "b.csv").write_text("user_id,item_id,action,time\nu2,i2,view,200\n")
    with pytest.raises(InputError, match=r"b\.csv: the header has no column 'ts'"):
        read_input(spark, spec(tmp_path))
    renamed = spec(tmp_path / "b.csv", renames={"ts": "timestamp"})
    with pytest.raises(InputError, match=r"no column 'timestamp' \(for ts\)"):
        read_input(spark, renamed)


def test_rfc4180_quotes_delimiters_doubled_quotes_and_line_breaks(spark, tmp_path):
    f = tmp_path / "a.csv"
    f.write_bytes(b'user_id,item_id,action,ts,note\r\n'
                  b'u1,i1,view,100,"one, ""two""\r\nthree"\r\n'
                  b'u2,i2,view,200,plain\r\n'
                  b'u3,i3,view,300,"a\n\nb"\n')
    got = read_input(spark, spec(f))
    assert rows(got.select("user_id", "extra", "parse_error", "raw"), "user_id") == [
        {"user_id": "u1", "extra": {"note": 'one, "two"\r\nthree'}, "parse_error": None,
         "raw": 'u1,i1,view,100,"one, ""two""\r\nthree"'},
        {"user_id": "u2", "extra": {"note": "plain"}, "parse_error": None, "raw": "u2,i2,view,200,plain"},
        {"user_id": "u3", "extra": {"note": "a\n\nb"}, "parse_error": None, "raw": 'u3,i3,view,300,"a\n\nb"'},
    ]


def test_an_unterminated_quote_spoils_one_record_not_the_file(spark, tmp_path):
    f = tmp_path / "a.csv"
    f.write_text('user_id,item_id,action,ts\nu1,"i1,view,100\nu2,i2,view,200\nu3,i"3,view,300\n'
                 'u4,"i4"x,view,400\n')
    got = read_input(spark, spec(f)).select("raw", "item_id", "parse_error")
    broken = "malformed_line: a quoted field is not closed before a delimiter or the end of the record"
    assert [(r["raw"], r["parse_error"]) for r in rows(got, "raw")] == [
        ('u1,"i1,view,100', broken), ("u2,i2,view,200", None), ('u3,i"3,view,300', None),
        ('u4,"i4"x,view,400', broken)]
    assert got.filter("raw = 'u3,i\"3,view,300'").first().item_id == 'i"3'  # a quote inside a field is text


def test_undecodable_bytes_are_a_bad_encoding_record_with_its_bytes_kept(spark, tmp_path):
    f = tmp_path / "a.csv"
    bad = b"u2,caf\xe9,view,200"
    f.write_bytes(b"user_id,item_id,action,ts\nu1,i1,view,100\n" + bad + b"\n\xff\xfe garbage\n")
    got = sorted((r.asDict() for r in read_input(spark, spec(f)).select("user_id", "raw", "raw_base64", "parse_error")
                  .collect()), key=lambda g: base64.b64decode(g["raw_base64"] or ""))
    assert [g["raw_base64"] and base64.b64decode(g["raw_base64"]) for g in got] == [None, bad, b"\xff\xfe garbage"]
    assert got[0] == {"user_id": "u1", "raw": "u1,i1,view,100", "raw_base64": None, "parse_error": None}
    assert all(g["raw"] is None and g["parse_error"].startswith("bad_encoding") for g in got[1:])


def test_latin1_input_decodes_every_byte_and_bom_crlf_gzip_are_handled(spark, tmp_path):
    (tmp_path / "a.csv").write_bytes(b"\xef\xbb\xbfuser_id,item_id,action,ts\r\nu1,i1,view,100\r\n")
    with gzip.open(tmp_path / "b.csv.gz", "wb") as fh:
        fh.write(b"user_id,item_id,action,ts\nu2,i2,view,200\n")
    assert read(spark, tmp_path, cols=("user_id", "ts", "parse_error")) == [
        {"user_id": "u1", "ts": "100", "parse_error": None}, {"user_id": "u2", "ts": "200", "parse_error": None}]
    latin = tmp_path / "latin"
    latin.mkdir()
    (latin / "a.csv").write_bytes(b"user_id,item_id,action,ts\nu1,caf\xe9,view,100\n")
    assert read(spark, latin, cols=("item_id", "parse_error"), encoding="iso-8859-1") == [
        {"item_id": "café", "parse_error": None}]
    ascii_only = read_input(spark, spec(latin, encoding="us-ascii")).select("parse_error").collect()
    assert ascii_only[0].parse_error.startswith("bad_encoding: bytes not valid US-ASCII")


def test_headerless_csv_with_configured_columns_and_renames(spark, tmp_path):
    f = tmp_path / "taobao.csv"
    f.write_text("1,10,100,pv,1511544070\n2,20,200,buy,1511561733\n")
    renames = {"user_id": "uid", "item_id": "iid", "action": "behavior", "ts": "timestamp"}
    got = read_input(spark, spec(f, header=False, columns=("uid", "iid", "cat", "behavior", "timestamp"),
                                 renames=renames))
    assert rows(got.select("user_id", "action", "ts", "extra"), "user_id") == [
        {"user_id": "1", "action": "pv", "ts": "1511544070", "extra": {"cat": "100"}},
        {"user_id": "2", "action": "buy", "ts": "1511561733", "extra": {"cat": "200"}},
    ]
    with pytest.raises(InputError, match=r"input.\*_columns has no column 'timestamp' \(for ts\)"):
        read_input(spark, spec(f, header=False, columns=("uid", "iid", "cat", "behavior"), renames=renames))


def test_json_lines_keep_raw_line_of_bad_json(spark, tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"user_id": "u1", "item_id": "i1", "action": "view", "ts": 5, "ref": "ad"}\n'
                 '{"user_id": "u2", "item_id"\n'
                 '[1, 2]\n')
    out = rows(read_input(spark, spec(f, "json")).select("user_id", "ts", "extra", "raw", "parse_error"), "raw")
    assert out == [
        {"user_id": None, "ts": None, "extra": {}, "raw": "[1, 2]", "parse_error": "bad_json: not a JSON object"},
        {"user_id": "u1", "ts": "5", "extra": {"ref": "ad"},
         "raw": '{"user_id": "u1", "item_id": "i1", "action": "view", "ts": 5, "ref": "ad"}',
         "parse_error": None},
        {"user_id": None, "ts": None, "extra": {}, "raw": '{"user_id": "u2", "item_id"',
         "parse_error": "bad_json: not a JSON object"},
    ]


def test_json_extras_are_key_sorted_so_reordered_keys_are_exact_duplicates(spark, tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"user_id": "u1", "item_id": "i1", "action": "view", "ts": 5, "ref": "ad", "app": "ios"}\n'
                 '{"app": "ios", "ts": 5, "ref": "ad", "action": "view", "item_id": "i1", "user_id": "u1"}\n')
    out = read_input(spark, spec(f, "json"))
    entries = [r.e for r in out.select(F.map_entries("extra").alias("e")).collect()]
    assert entries[0] == entries[1] and [e.key for e in entries[0]] == ["app", "ref"]


def test_parquet_files_are_read_by_name_each_with_its_schema(spark, tmp_path):
    spark.createDataFrame([("u1", "i1", "view", 7)], "user_id string, item_id string, action string, ts long") \
        .write.parquet(str(tmp_path / "p" / "a"))
    spark.createDataFrame([("2026-11-21T10:00:00Z", "click", "i2", "u2")],
                          "ts string, action string, item_id string, user_id string") \
        .write.parquet(str(tmp_path / "p" / "b"))
    assert read(spark, tmp_path / "p", "parquet") == [
        {"user_id": "u1", "item_id": "i1", "action": "view", "ts": "7", "extra": {}, "parse_error": None},
        {"user_id": "u2", "item_id": "i2", "action": "click", "ts": "2026-11-21T10:00:00Z", "extra": {},
         "parse_error": None},
    ]
    spark.createDataFrame([("u3", "i3", "view")], "user_id string, item_id string, action string") \
        .write.parquet(str(tmp_path / "p" / "c"))
    with pytest.raises(InputError, match=r"c/part-.*parquet: the Parquet schema has no column 'ts'"):
        read_input(spark, spec(tmp_path / "p", "parquet"))


def test_missing_input_and_unknown_encoding_are_input_errors(spark, tmp_path):
    with pytest.raises(InputError, match="no input files at"):
        read_input(spark, spec(tmp_path / "nothing-here"))
    (tmp_path / "a.csv").write_text("user_id,item_id,action,ts\n")
    with pytest.raises(InputError, match="'cp1252' is not supported"):
        read_input(spark, spec(tmp_path, encoding="cp1252"))
