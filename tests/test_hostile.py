"""Hostile input, as real shop logs hold it, through the real ingest stage on small files.

Every case either succeeds, with input = accepted + quarantined + duplicates (the
audit reconciles against the number of records written here) and every accepted
value exactly as written, or stops with a typed error and leaves every table as
it was (versions and contents of a night committed before are unchanged).
The README lists these cases and their outcomes.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import gzip
import os
import shutil
from dataclasses import dataclass, field

import pytest
from pyspark.sql import functions as F

from shoprank.config import load_config
from shoprank.errors import InputError, QualityGateError, ShopRankError
from shoprank.night import Night
from shoprank.snapshot import Snapshot
from shoprank.stages import gate, ingest

RUN_DATE = dt.date(2026, 11, 21)
T = int(dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC).timestamp())
HEADER = b"user_id,item_id,action,ts\n"
ITEMS = b"item_id,category,brand,price,title\ni1,home,acme,10,Lamp\ni2,toys,zeta,5,Ball\n"
TABLES = ("items", "interactions", "quarantine", "data_profile", "run_audit")


def good_rows(n: int = 3, start: int = 0) -> bytes:
    return b"".join(f"u{k},i{1 + k % 2},view,{T + k}\n".encode() for k in range(start, start + n))


@dataclass
class Case:
    actions: dict[str, bytes]
    items: dict[str, bytes] = field(default_factory=lambda: {"items.csv": ITEMS})
    sets: tuple[str, ...] = ()
    records: int | None = None  # action records written (checked against the audit)
    reasons: dict[str, int] = field(default_factory=dict)  # expected quarantine reasons (actions)
    accepted: set | None = None  # expected (user_id, item_id) of interactions
    error: type | None = None
    message: str = ""


CASES = {
    "binary garbage appended to a CSV": Case(
        {"a.csv": HEADER + good_rows(3) + b"\x00\xff\xfe\x80\x81garbage,\xc3\n"},
        records=4, reasons={"bad_encoding": 1}),
    "latin-1 byte in a UTF-8 log": Case(
        {"a.csv": HEADER + good_rows(2) + f"u9,caf\xe9,view,{T}\n".encode("latin-1")
         + f"u8,i1,vi\xe9w,{T}\n".encode("latin-1")},
        records=4, reasons={"bad_encoding": 2}, accepted={("u0", "i1"), ("u1", "i2")}),
    "latin-1 log declared as such": Case(
        {"a.csv": HEADER + f"u9,caf\xe9,view,{T}\n".encode("latin-1")},
        items={"items.csv": "item_id,category,brand,price,title\ncaf\xe9,home,acme,4,Café\n".encode("latin-1")},
        sets=("input.encoding=iso-8859-1",), records=1, accepted={("u9", "café")}),
    "files whose headers order the columns differently": Case(
        {"a.csv": HEADER + good_rows(2), "b.csv": f"ts,action,item_id,user_id\n{T},view,i2,u7\n".encode()},
        records=3, accepted={("u0", "i1"), ("u1", "i2"), ("u7", "i2")}),
    "a file without a required column": Case(
        {"a.csv": HEADER + good_rows(2), "b.csv": f"user_id,item_id,action,time\nu7,i2,view,{T}\n".encode()},
        error=InputError, message="b.csv: the header has no column 'ts'"),
    "a header with a repeated column": Case(
        {"a.csv": b"user_id,item_id,action,ts,ts\n" + good_rows(1)},
        error=InputError, message="found ['ts'] repeated"),
    "quoted fields with delimiters, doubled quotes and line breaks": Case(
        {"a.csv": HEADER + good_rows(1) + f'u5,"i,""5""\r\nx",view,{T}\n'.encode()},
        items={"items.csv": b"item_id,category,brand,price,title,description\ni1,home,acme,10,Lamp,\n"
               b'i3,home,acme,7,"Rug, ""wool""","line one\nline two"\n'},
        records=2, accepted={("u0", "i1"), ("u5", 'i,"5"\r\nx')}),
    "an unterminated quote": Case(
        {"a.csv": HEADER + good_rows(1) + f'u5,"i5,view,{T}\n'.encode() + good_rows(2, start=1)},
        records=4, reasons={"malformed_line": 1}),
    "byte-order mark, CRLF line ends, a gzip file, an empty file, a header-only file": Case(
        {"a.csv": b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n") + good_rows(2).replace(b"\n", b"\r\n"),
         "b.csv.gz": gzip.compress(HEADER + good_rows(1, start=5)), "c.csv": b"", "d.csv": HEADER},
        records=3, accepted={("u0", "i1"), ("u1", "i2"), ("u5", "i2")}),
    "wrong field counts and blank or whitespace-only fields": Case(
        {"a.csv": HEADER + good_rows(1) + f"u5,i1,view\nu6,i1,view,{T},extra\n   ,i1,view,{T}\nu7,\t,view,{T}\n"
         .encode()},
        records=5, reasons={"malformed_line": 2, "null_user_id": 1, "null_item_id": 1}),
    "timestamps that cannot be a time": Case(
        {"a.csv": HEADER + good_rows(1) + b"u5,i1,view,99999999999999999999\nu6,i1,view,1e9\n"
         b"u7,i1,view,\nu8,i1,view,-1\nu9,i1,view,2026-13-45T99:00:00Z\n"},
        records=6, reasons={"bad_timestamp": 4, "stale_timestamp": 1}),
    "actions on items missing from the catalogue": Case(
        {"a.csv": HEADER + good_rows(1) + f"u5,ghost,view,{T}\n".encode()},
        records=2, accepted={("u0", "i1"), ("u5", "ghost")}),
    "prices that are not prices": Case(
        {"a.csv": HEADER + good_rows(1)},
        items={"items.csv": ITEMS + b"i3,home,acme,NaN,x\ni4,home,acme,Infinity,x\ni5,home,acme,$9,x\n"
               b"i6,home,acme,-1,x\ni7,home,acme,1e400,x\ni8,home,acme,5,x,extra\n"},
        records=1),
    "JSON lines that are not objects": Case(
        {"a.jsonl": f'{{"user_id": "u1", "item_id": "i1", "action": "view", "ts": {T}}}\n[1, 2]\n"text"\nnull\n'
         f'{{"user_id": {{"nested": 1}}, "item_id": "i1", "action": "view", "ts": {T}}}\n{{"user_id": "u2"\n'
         .encode() + b'{"user_id": "\xff", "item_id": "i1"}\n'},
        sets=("input.actions_format=json",), records=7, reasons={"bad_json": 4, "bad_encoding": 1},
        accepted={("u1", "i1"), ('{"nested":1}', "i1")}),
    "a missing input folder": Case({}, error=InputError, message="no input files at"),
}


def write(folder, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def night(spark, root, case: Case) -> Night:
    write(root / "actions", case.actions)
    write(root / "items", case.items)
    cfg = load_config("conf/local.toml", [
        f"input.actions_path={root}/actions", f"input.items_path={root}/items",
        f"storage.warehouse={root}/warehouse", f"storage.artifacts={root}/artifacts", *case.sets])
    return Night.open(spark, cfg, RUN_DATE, run_version=1)


@pytest.fixture(scope="module")
def committed_night(spark, tmp_path_factory):
    """A warehouse holding one good night: error cases must leave it as it is."""
    root = tmp_path_factory.mktemp("good")
    n = night(spark, root, Case({"a.csv": HEADER + good_rows(4)}))
    ingest.run(n)
    return root / "warehouse", {t: n.tables.version(t) for t in TABLES}


def snapshot(n: Night) -> dict:
    return {t: (n.tables.version(t), sorted(map(str, n.tables.read(t).collect()))) for t in TABLES}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input(spark, tmp_path, committed_night, name):
    case = CASES[name]
    if case.error is not None:
        shutil.copytree(committed_night[0], tmp_path / "warehouse")
        n = night(spark, tmp_path, case)
        before = snapshot(n)
        with pytest.raises(case.error, match=case.message.replace("[", r"\[").replace("]", r"\]")) as err:
            ingest.run(n)
        assert isinstance(err.value, ShopRankError) and err.value.exit_code == 3
        assert snapshot(n) == before  # nothing half-written
        return
    n = night(spark, tmp_path, case)
    counts = ingest.run(n)["actions"]
    audit = {r.source: r for r in n.tables.read("run_audit", RUN_DATE).collect()}
    assert all(a.reconciled for a in audit.values())
    assert counts["input_rows"] == case.records
    assert counts["input_rows"] == counts["accepted"] + counts["quarantined"] + counts["duplicates"]
    q = n.tables.read("quarantine", RUN_DATE)
    got_reasons = {r.reason: r["count"] for r in q.filter("source = 'actions'").groupBy("reason").count().collect()}
    assert got_reasons == case.reasons
    # A rejected record keeps what arrived: its text, or its exact bytes when undecodable.
    assert q.filter(F.col("raw").isNull() == F.col("raw_base64").isNull()).count() == 0
    inter = n.tables.read("interactions", RUN_DATE)
    if case.accepted is not None:
        assert {(r.user_id, r.item_id) for r in inter.collect()} == case.accepted
    assert inter.filter(F.col("user_id").contains("\ufffd") | F.col("item_id").contains("\ufffd")).count() == 0


def test_undecodable_records_keep_their_exact_bytes(spark, tmp_path):
    garbage = b"\x00\xff\xfe\x80\x81garbage,\xc3"
    n = night(spark, tmp_path, Case({"a.csv": HEADER + good_rows(1) + garbage + b"\n"}))
    ingest.run(n)
    row = n.tables.read("quarantine", RUN_DATE).filter("reason = 'bad_encoding'").collect()[0]
    assert base64.b64decode(row.raw_base64) == garbage and row.source_file.endswith("a.csv")


def test_multiline_item_description_is_kept_exactly(spark, tmp_path):
    case = CASES["quoted fields with delimiters, doubled quotes and line breaks"]
    n = night(spark, tmp_path, case)
    ingest.run(n)
    item = n.tables.read("items", RUN_DATE).filter("item_id = 'i3'").collect()[0]
    assert (item.title, item.description) == ('rug, "wool"', "line one\nline two")
    assert n.tables.read("quarantine", RUN_DATE).count() == 0


def test_relative_input_folders_keep_records_that_span_lines(spark, tmp_path):
    """`make demo` reads `data/sample/...`, relative to the working directory: the files
    whose records span lines must be found there too (they once matched none, and every
    multi-line description became two malformed lines)."""
    case = CASES["quoted fields with delimiters, doubled quotes and line breaks"]
    write(tmp_path / "actions", case.actions)
    write(tmp_path / "items", case.items)
    relative = os.path.relpath(tmp_path)
    cfg = load_config("conf/local.toml", [f"input.actions_path={relative}/actions", f"input.items_path={relative}/items",
                                          f"storage.warehouse={tmp_path}/warehouse",
                                          f"storage.artifacts={tmp_path}/artifacts"])
    n = Night.open(spark, cfg, RUN_DATE, run_version=1)
    ingest.run(n)
    item = n.tables.read("items", RUN_DATE).filter("item_id = 'i3'").collect()[0]
    assert item.description == "line one\nline two"
    assert {(r.user_id, r.item_id) for r in n.tables.read("interactions", RUN_DATE).collect()} == case.accepted
    assert n.tables.read("quarantine", RUN_DATE).count() == 0


def test_bad_prices_are_quarantined_with_reasons(spark, tmp_path):
    n = night(spark, tmp_path, CASES["prices that are not prices"])
    ingest.run(n)
    q = {r.raw.split(",")[0]: r.reason for r in
         n.tables.read("quarantine", RUN_DATE).filter("source = 'items'").collect()}
    assert q == {"i3": "bad_price", "i4": "bad_price", "i5": "bad_price", "i6": "bad_price",
                 "i7": "bad_price", "i8": "malformed_line"}


@pytest.mark.parametrize("policy", ["auto", "required"])
def test_a_catalogue_without_prices_passes_the_gate_unless_prices_are_required(spark, tmp_path, policy):
    """A film catalogue's header has no price column: ingest keeps every item, unpriced
    (no median to fill from), and the gate's unpriced-event limit counts only where the
    price policy, resolved for this catalogue, requires prices."""
    items = b"item_id,category,brand,title\ni1,drama,,Heat\ni2,comedy,,Big\n"
    n = night(spark, tmp_path, Case({"a.csv": HEADER + good_rows(4)}, items={"items.csv": items},
                                    sets=(f"score.price_policy={policy}",)))
    ingest.run(n)
    prices = {(r.item_id, r.price, r.price_filled) for r in n.tables.read("items", RUN_DATE).collect()}
    assert prices == {("i1", None, False), ("i2", None, False)}
    if policy == "auto":
        assert gate.run(n) == []
    else:
        with pytest.raises(QualityGateError, match="null_price_rate=1"):
            gate.run(n)


def test_a_log_older_than_the_history_kept_stops_at_the_gate_saying_which_setting_keeps_it(spark, tmp_path):
    """A shop hands over two months of log to a night that keeps 30 days: the older rows are
    quarantined as stale (nothing lost), and the gate's error names the reason, its rows
    and the setting; keeping 90 days accepts them all."""
    old = b"".join(f"u{k},i1,view,{T - 60 * 86_400 + k}\n".encode() for k in range(8))
    case = Case({"a.csv": HEADER + good_rows(2) + old})
    n = night(spark, tmp_path / "30", case)
    assert ingest.run(n)["actions"]["quarantined"] == 8
    with pytest.raises(QualityGateError, match=r"actions: 8 rows quarantined as stale_timestamp, .*"
                       r"validation.horizon_days = 30 days .*--set validation.horizon_days=<days>"):
        gate.run(n)
    n = night(spark, tmp_path / "90", dataclasses.replace(case, sets=("validation.horizon_days=90",)))
    assert ingest.run(n)["actions"]["accepted"] == 10
    assert gate.run(n) == []


def test_a_night_keeps_the_history_its_label_windows_see_before_their_start(spark, tmp_path):
    """Each label window's snapshot sees validation.horizon_days before its own start, as a
    night ending there did, so a window's inputs are the same on every night that trains
    on it. The night keeps those older events (not stale); its own views read only its
    horizon, and the oldest window's snapshot reads them."""
    reach = load_config("conf/local.toml").windows_days  # the four label windows' days
    ages = (0, 30 + reach - 1, 30 + reach + 1)  # days before T: tonight's only; the oldest window's only; stale
    rows = b"".join(f"u{k},i1,view,{T - age * 86_400}\n".encode() for k, age in enumerate(ages))
    n = night(spark, tmp_path, Case({"a.csv": HEADER + rows}))
    outcome = ingest.run(n)["actions"]
    assert (outcome["accepted"], outcome["quarantined"]) == (2, 1)
    assert [r.detail.startswith(f"ts before horizon {n.windows.kept_start.isoformat()}: ")
            for r in n.tables.read("quarantine", RUN_DATE).collect()] == [True]
    assert [r.user_id for r in n.events().collect()] == ["u0"]
    history = n.tables.read("interactions", RUN_DATE)
    oldest = n.windows.end - dt.timedelta(days=reach)
    assert [r.user_id for r in Snapshot.at(history, None, None, oldest, n.cfg).events.collect()] == ["u1"]
    assert oldest - n.windows.kept_start == dt.timedelta(days=30)


def test_a_failure_part_way_commits_nothing(spark, tmp_path, committed_night, monkeypatch):
    """The quarantine write dies after items and interactions were staged: no table
    moves, the staged files are gone, and the rerun commits the night whole."""
    shutil.copytree(committed_night[0], tmp_path / "warehouse")
    n = night(spark, tmp_path, Case({"a.csv": HEADER + good_rows(6)}))
    before = snapshot(n)
    files_before = sorted(p for p in (tmp_path / "warehouse").rglob("*.parquet"))
    real = ingest.quarantine_rows

    def dies(*args):
        raise RuntimeError("executor lost while writing quarantine")

    monkeypatch.setattr(ingest, "quarantine_rows", dies)
    with pytest.raises(RuntimeError, match="executor lost"):
        ingest.run(n)
    assert snapshot(n) == before
    assert sorted(p for p in (tmp_path / "warehouse").rglob("*.parquet")) == files_before
    monkeypatch.setattr(ingest, "quarantine_rows", real)
    n2 = night(spark, tmp_path, Case({"a.csv": HEADER + good_rows(6)}))
    n2.run_version = 2
    assert ingest.run(n2)["actions"]["accepted"] == 6
    assert n2.tables.read("interactions", RUN_DATE).count() == 6


@pytest.mark.slow
def test_a_killed_ingest_commits_nothing_and_the_rerun_replaces_it(spark, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from shoprank.generate import generate

    sets = [f"input.actions_path={tmp_path}/actions", f"input.items_path={tmp_path}/items",
            f"storage.warehouse={tmp_path}/warehouse", f"storage.artifacts={tmp_path}/artifacts",
            "generate.users=400", "generate.items=200"]
    cfg = load_config("conf/local.toml", sets)
    generate(cfg.generate, cfg.input.actions_path, cfg.input.items_path, RUN_DATE)
    command = [sys.executable, "-m", "shoprank.cli", "ingest", "--conf", "conf/local.toml",
               "--run-date", RUN_DATE.isoformat(), "--run-version", "1", *[a for s in sets for a in ("--set", s)]]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    staged = tmp_path / "warehouse" / "interactions"
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not list(staged.glob("w-*/run_date=*/*.parquet")):
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, its JVM and its Python workers
        proc.wait()
    assert list(staged.glob("w-*/run_date=*/*.parquet")), "the ingest should have staged interactions before the kill"
    n = Night.open(spark, cfg, RUN_DATE, run_version=1)
    # Tables may exist (created empty), but no night was committed to any of them.
    assert all(n.tables.run_dates(t) == [] for t in TABLES if n.tables.exists(t))
    counts = ingest.run(n)["actions"]
    assert n.tables.read("interactions", RUN_DATE).count() == counts["accepted"] > 0
    assert n.tables.read("run_audit", RUN_DATE).filter("reconciled").count() == 2
