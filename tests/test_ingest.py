import datetime as dt

from pyspark.sql import functions as F

from shoprank import ingest
from shoprank.schemas import BOT_DAYS, INTERACTIONS, ITEMS, RAW_ACTIONS, RAW_ITEMS
from tests.conftest import rows

RUN_END = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
HORIZON = RUN_END - dt.timedelta(days=30)
T0 = int((RUN_END - dt.timedelta(days=1)).timestamp())


def raw_actions(spark, records):
    data = [(u, i, a, ts, extra or {}, f"{u},{i},{a},{ts}", None, "f.csv", err)
            for u, i, a, ts, extra, err in records]
    return spark.createDataFrame(data, RAW_ACTIONS).drop()


def validated(df, near=2, cap=1000, action_map=None):
    """The ingest order: validate, flag bot-like user-days, deduplicate what is left."""
    checked = (df.transform(ingest.map_actions(action_map or {"pv": "view"}))
               .transform(ingest.validate_actions(RUN_END, HORIZON, "auto")))
    return checked.transform(ingest.flag_bot_days(cap)).transform(ingest.flag_duplicates(near))


def test_every_action_reason_code(spark):
    df = raw_actions(spark, [
        ("u1", "i1", "view", str(T0), None, None),                       # accepted
        ("u1", "i2", "pv", str(T0 * 1000), None, None),                  # mapped + milliseconds
        ("u1", "i3", "click", "2026-11-21T10:00:00Z", None, None),       # ISO-8601
        (None, "i1", "view", str(T0), None, None),
        ("u2", None, "view", str(T0), None, None),
        ("u2", "i1", "hover", str(T0), None, None),
        ("u2", "i1", "view", "yesterday", None, None),
        ("u2", "i1", "view", str(T0 + 5 * 86400), None, None),
        ("u2", "i1", "view", str(T0 - 90 * 86400), None, None),
        ("u2", "i9", "view", str(T0), None, "malformed_line: expected 4 fields, found 5"),
    ])
    got = rows(validated(df).select("user_id", "item_id", "action", "reason"), "item_id", "reason")
    reasons = sorted((r["reason"] or "accepted") for r in got)
    assert reasons == sorted(["accepted", "accepted", "accepted", "null_user_id", "null_item_id",
                              "unknown_action", "bad_timestamp", "future_timestamp", "stale_timestamp",
                              "malformed_line"])
    mapped = [r for r in got if r["item_id"] == "i2"][0]
    assert mapped["action"] == "view" and mapped["reason"] is None


def test_millis_and_iso_timestamps_parse_to_the_same_instant(spark):
    df = spark.createDataFrame([(str(T0),), (str(T0 * 1000),), (
        dt.datetime.fromtimestamp(T0, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),)], "ts string")
    got = {r.t for r in df.select(ingest.parse_timestamp(F.col("ts")).alias("t")).collect()}
    assert got == {dt.datetime.fromtimestamp(T0, dt.UTC).replace(tzinfo=None)}


def test_exact_and_near_duplicates_within_window(spark):
    df = raw_actions(spark, [
        ("u1", "i1", "view", str(T0), {"device": "web"}, None),
        ("u1", "i1", "view", str(T0), {"device": "web"}, None),       # exact duplicate
        ("u1", "i1", "view", str(T0 + 2), None, None),                # within 2 s: near-duplicate
        ("u1", "i1", "view", str(T0 + 60), None, None),               # outside the window: kept
        ("u1", "i1", "click", str(T0 + 1), None, None),               # another action: kept
    ])
    out = validated(df, near=2).orderBy("action", "ts", "reason")
    got = [(int(r.ts.replace(tzinfo=dt.UTC).timestamp()), r.action, r.reason) for r in out.collect()]
    assert got == [
        (T0 + 1, "click", None),
        (T0, "view", None),
        (T0, "view", "exact_duplicate"),
        (T0 + 2, "view", "near_duplicate"),
        (T0 + 60, "view", None),
    ]


def test_bot_like_users_are_quarantined(spark):
    recs = [("bot", f"i{k}", "view", str(T0 + k * 10), None, None) for k in range(6)]
    recs.append(("bot", "i0", "view", str(T0), None, None))  # a bot's duplicate is quarantined too
    recs.append(("bot", "i0", "view", "yesterday", None, None))  # invalid rows keep their own reason
    recs.append(("human", "i1", "view", str(T0), None, None))
    got = sorted((r.user_id, r.reason, r.detail) for r in validated(raw_actions(spark, recs), cap=5).collect())
    day = dt.datetime.fromtimestamp(T0, dt.UTC).date().isoformat()
    assert got == sorted([("bot", "bot_user", f"more than 5 events on {day}: 7")] * 7
                         + [("bot", "bad_timestamp", "cannot parse ts 'yesterday'"), ("human", None, None)])

    # What pass 1 reports, and pass 2 flagging the same rows from that list.
    checked = (raw_actions(spark, recs).transform(ingest.map_actions({}))
               .transform(ingest.validate_actions(RUN_END, HORIZON, "auto")))
    flagged = checked.transform(ingest.flag_bot_days(5))
    summary = flagged.agg(*[c.alias(k) for k, c in ingest.bot_summary().items()]).collect()[0].asDict()
    listed = ingest.bot_days_rows(summary)
    assert summary["bot_rows"] == 7
    assert listed == [("bot", dt.date.fromisoformat(day), f"more than 5 events on {day}: 7")]
    again = checked.transform(ingest.flag_bots(spark.createDataFrame(listed, BOT_DAYS)))
    assert rows(again.select("user_id", "ts", "reason", "detail"), "user_id", "ts", "reason") == \
        rows(flagged.select("user_id", "ts", "reason", "detail"), "user_id", "ts", "reason")


def test_duplicate_window_is_one_sort(spark):
    df = (raw_actions(spark, [("u1", "i1", "view", str(T0), None, None)])
          .transform(ingest.map_actions({})).transform(ingest.validate_actions(RUN_END, HORIZON, "auto")))
    plan = df.transform(ingest.flag_duplicates(2))._jdf.queryExecution().executedPlan().toString()
    # Window expressions written inline once got a window and a sort each (four sorts).
    assert plan.count("Sort [") == 1


def raw_items(spark, records):
    data = [(i, c, b, p, t, None, u, *rest, {}, f"{i},{c},{b},{p}", None, "items.csv", None)
            for i, c, b, p, t, u, *rest in [(*r, None) if len(r) == 6 else r for r in records]]
    return spark.createDataFrame(data, RAW_ITEMS)


def test_items_latest_row_fills_and_price_checks(spark):
    df = raw_items(spark, [
        ("i1", "Home", "acme", "10", "  Old   Lamp ", "2026-11-01T00:00:00Z"),
        ("i1", "Home", "acme", "12", "  New   LAMP ", "2026-11-10T00:00:00Z"),  # latest wins
        ("i2", "home", None, None, "Rug", "2026-11-10T00:00:00Z"),             # price from category median
        ("i3", None, "zeta", "30", "Pen", None),                              # category unknown
        ("i4", "home", "acme", "-3", "Bad", None),
        ("i5", "home", "acme", "cheap", "Bad", None),
        (None, "home", "acme", "3", "No id", None),
        ("i6", "home", "acme", "NaN", "Nan", None),                            # NaN is not a price
        ("i7", "home", "acme", "Infinity", "Inf", None),
        ("i8", "home", "acme", "8", "Gone", None, "no"),                        # inactive: kept, flagged
        ("i9", "home", "acme", "9", "Maybe", None, "maybe"),                    # not a flag
        ("i10", "garden", "acme", "5", "Padded", None, " Yes "),                  # padded, capitalised
        ("i11", "garden", "acme", "5", "Blank", None, "  "),                      # blank: unset, active
    ])
    flagged = df.transform(ingest.validate_items(1000.0)).transform(ingest.flag_superseded_items)
    reasons = sorted((r.item_id or "-", r.reason or "ok") for r in flagged.collect())
    assert reasons == [("-", "null_item_id"), ("i1", "ok"), ("i1", "superseded"), ("i10", "ok"),
                       ("i11", "ok"), ("i2", "ok"),
                       ("i3", "ok"), ("i4", "bad_price"), ("i5", "bad_price"), ("i6", "bad_price"),
                       ("i7", "bad_price"), ("i8", "ok"), ("i9", "bad_active")]
    clean = flagged.filter("reason is null").transform(ingest.clean_items(dt.date(2026, 11, 21)))
    got = rows(clean.select(*ITEMS.names).drop("run_date", "updated_at", "description", "extra"), "item_id")
    assert got == [
        {"item_id": "i1", "category": "home", "brand": "acme", "price": 12.0, "price_filled": False,
         "title": "new lamp", "active": True},
        {"item_id": "i10", "category": "garden", "brand": "acme", "price": 5.0, "price_filled": False,
         "title": "padded", "active": True},
        {"item_id": "i11", "category": "garden", "brand": "acme", "price": 5.0, "price_filled": False,
         "title": "blank", "active": True},
        {"item_id": "i2", "category": "home", "brand": "unknown", "price": 10.0, "price_filled": True,
         "title": "rug", "active": True},
        {"item_id": "i3", "category": "unknown", "brand": "zeta", "price": 30.0, "price_filled": False,
         "title": "pen", "active": True},
        {"item_id": "i8", "category": "home", "brand": "acme", "price": 8.0, "price_filled": False,
         "title": "gone", "active": False},
    ]


def test_join_keeps_actions_on_unknown_items_flagged(spark):
    d = dt.date(2026, 11, 21)
    items = spark.createDataFrame([(d, "i1", "home", "acme", 5.0, False, "lamp", None, None, True, None)], ITEMS)
    actions = validated(raw_actions(spark, [("u1", "i1", "view", str(T0), None, None),
                                            ("u1", "ghost", "view", str(T0), None, None)]))
    out = actions.filter("reason is null").transform(ingest.join_items(items, d))
    assert out.schema.simpleString() == INTERACTIONS.simpleString()
    assert rows(out.select("item_id", "category", "item_known"), "item_id") == [
        {"item_id": "ghost", "category": "unknown", "item_known": False},
        {"item_id": "i1", "category": "home", "item_known": True},
    ]


def test_pseudonymization_is_keyed_and_stable(spark):
    df = spark.createDataFrame([("alice",), ("bob",)], "user_id string")
    a = [r.user_id for r in df.transform(ingest.pseudonymize_users("k1")).orderBy("user_id").collect()]
    b = [r.user_id for r in df.transform(ingest.pseudonymize_users("k1")).orderBy("user_id").collect()]
    c = [r.user_id for r in df.transform(ingest.pseudonymize_users("k2")).orderBy("user_id").collect()]
    assert a == b and set(a) != set(c) and "alice" not in a and len(a[0]) == 32


def test_each_ingest_pass_parses_each_line_once(spark, tmp_path):
    from shoprank.stages.ingest import interactions_pass, quarantine_rows
    from shoprank.storage.sources import InputSpec, read_input

    (tmp_path / "a.csv").write_text(f"user_id,item_id,action,ts\nu1,i1,view,{T0}\n")
    columns = ("user_id", "item_id", "action", "ts")
    checked = (read_input(spark, InputSpec(str(tmp_path / "a.csv"), "csv", columns, columns))
               .transform(ingest.map_actions({})).transform(ingest.validate_actions(RUN_END, HORIZON, "auto")))
    items = raw_items(spark, [("i1", "c", "b", "10.0", "t", None)]).transform(ingest.validate_items(1000.0))
    # Read from files, as in ingest: Spark knows the items' size and broadcasts them.
    spark.createDataFrame([(RUN_END.date(), "i1", "c", "b", 10.0, False, "t", None, None, True, {})],
                          ITEMS).write.parquet(str(tmp_path / "items"))
    clean = spark.read.schema(ITEMS).parquet(str(tmp_path / "items"))

    def plan(df, kind):
        qe = df._jdf.queryExecution()
        return (qe.optimizedPlan() if kind == "optimized" else qe.executedPlan()).toString()

    # A filter on `reason` right after validation would be pushed into the parse and
    # repeat it once per field (20x slower at 10M rows): pass 1's input observation and
    # pass 2's bot join keep the filters above the parse.
    first = interactions_pass(checked, clean, RUN_END.date(), 5, 2)
    assert plan(first.df, "optimized").count("split(raw") == 1
    bots = spark.createDataFrame([("u9", RUN_END.date(), "more than 5 events")], BOT_DAYS)
    assert plan(quarantine_rows(checked, items, bots, RUN_END.date()), "optimized").count("split(raw") == 1
    # Pass 1 shuffles once: the bot count and the duplicate window share the shuffle by user.
    assert plan(first.df, "executed").count("Exchange hashpartitioning") == 1
