import pytest
from pyspark.sql import functions as F

from shoprank.storage.sources import canonical_columns, read_records
from tests.conftest import rows


def _canon(df):
    return canonical_columns(df, ["user_id", "item_id", "action", "ts"], {}).select(
        "user_id", "item_id", "action", "ts", "extra", "parse_error")


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
    got = rows(_canon(read_records(spark, str(f), "csv", delimiter=sep)), "user_id")
    assert got == [
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


def test_headerless_csv_with_configured_columns_and_renames(spark, tmp_path):
    f = tmp_path / "taobao.csv"
    f.write_text("1,10,100,pv,1511544070\n2,20,200,buy,1511561733\n")
    rec = read_records(spark, str(f), "csv", header=False,
                       columns=("uid", "iid", "cat", "behavior", "timestamp"))
    out = canonical_columns(rec, ["user_id", "item_id", "action", "ts"],
                            {"user_id": "uid", "item_id": "iid", "action": "behavior", "ts": "timestamp"})
    assert rows(out.select("user_id", "action", "ts", "extra"), "user_id") == [
        {"user_id": "1", "action": "pv", "ts": "1511544070", "extra": {"cat": "100"}},
        {"user_id": "2", "action": "buy", "ts": "1511561733", "extra": {"cat": "200"}},
    ]


def test_json_lines_keep_raw_line_of_bad_json(spark, tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"user_id": "u1", "item_id": "i1", "action": "view", "ts": 5, "ref": "ad"}\n'
                 '{"user_id": "u2", "item_id"\n')
    got = read_records(spark, str(f), "json")
    out = rows(canonical_columns(got, ["user_id", "item_id", "action", "ts"], {}).select(
        "user_id", "ts", "extra", "raw", "parse_error"), "raw")
    assert out == [
        {"user_id": "u1", "ts": "5", "extra": {"ref": "ad"},
         "raw": '{"user_id": "u1", "item_id": "i1", "action": "view", "ts": 5, "ref": "ad"}',
         "parse_error": None},
        {"user_id": None, "ts": None, "extra": {}, "raw": '{"user_id": "u2", "item_id"',
         "parse_error": "bad_json: not a JSON object"},
    ]


def test_parquet_is_read_with_its_own_schema(spark, tmp_path):
    path = str(tmp_path / "p")
    spark.createDataFrame([("u1", "i1", "view", 7)], "user_id string, item_id string, action string, ts long") \
        .write.parquet(path)
    out = _canon(read_records(spark, path, "parquet")).collect()[0].asDict()
    assert out == {"user_id": "u1", "item_id": "i1", "action": "view", "ts": "7", "extra": {},
                   "parse_error": None}


def test_json_extras_are_key_sorted_so_reordered_keys_are_exact_duplicates(spark, tmp_path):
    f = tmp_path / "a.jsonl"
    f.write_text('{"user_id": "u1", "item_id": "i1", "action": "view", "ts": 5, "ref": "ad", "app": "ios"}\n'
                 '{"app": "ios", "ts": 5, "ref": "ad", "action": "view", "item_id": "i1", "user_id": "u1"}\n')
    out = canonical_columns(read_records(spark, str(f), "json"), ["user_id", "item_id", "action", "ts"], {})
    entries = [r.e for r in out.select(F.map_entries("extra").alias("e")).collect()]
    assert entries[0] == entries[1] and [e.key for e in entries[0]] == ["app", "ref"]

