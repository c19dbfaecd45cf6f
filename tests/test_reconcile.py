import datetime as dt

from shoprank.audit import ACCEPTED, count_summary, reconcile
from shoprank.storage import WriteResult

D = dt.date(2026, 11, 21)


def counts():
    actions = count_summary({ACCEPTED: 90, "null_user_id": 4, "bot_user": 2, "exact_duplicate": 3,
                             "near_duplicate": 1})
    items = count_summary({ACCEPTED: 10, "bad_price": 1, "superseded": 2})
    return {"actions": actions, "items": items}


def test_outcome_counts_split_into_accepted_quarantined_duplicates():
    c = counts()
    assert c["actions"] == {"input_rows": 100, "accepted": 90, "quarantined": 6, "duplicates": 4,
                            "exact_duplicates": 3, "near_duplicates": 1, "held_out": 0}
    assert c["items"]["duplicates"] == 2 and c["items"]["quarantined"] == 1


def test_reconciled_run_has_no_problems():
    written = {"actions": WriteResult("interactions", 1, 2, 90), "items": WriteResult("items", 1, 1, 10)}
    audit, problems = reconcile(D, counts(), written, WriteResult("quarantine", 1, 1, 7))
    assert problems == []
    assert [a[7] for a in audit] == [True, True]
    assert audit[0] == (D, "actions", 100, 90, 6, 3, 1, True, 0)


def test_lost_rows_are_reported():
    written = {"actions": WriteResult("interactions", 1, 2, 89), "items": WriteResult("items", 1, 1, 10)}
    audit, problems = reconcile(D, counts(), written, WriteResult("quarantine", 1, 1, 5))
    assert audit[0][7] is False
    assert problems == ["actions: input 100 != accepted 89 + quarantined 6 + duplicates 4 + held out 0",
                        "quarantine: wrote 5 rows, expected 7"]


def test_skipped_retry_counts_as_written():
    written = {"actions": WriteResult("interactions", None, 0, 0, skipped=True),
               "items": WriteResult("items", None, 0, 0, skipped=True)}
    _, problems = reconcile(D, counts(), written, WriteResult("quarantine", None, 0, 0, skipped=True))
    assert problems == []


def test_observed_counts_come_from_the_write_or_from_a_run_into_the_noop_sink(spark, tmp_path):
    from pyspark.sql import functions as F

    from shoprank.observe import Observed, observe_all

    values = [3, 1, 4, 1, 5, 9, 2, 6]
    df = spark.createDataFrame([(v,) for v in values], "v int")
    aggs = {"rows": F.count(F.lit(1)), "big": F.count_if(F.col("v") > 3)}
    expected = {"rows": len(values), "big": sum(v > 3 for v in values)}

    observed = Observed(df, aggs)
    written = observed.df.filter(F.col("v") > 1)
    written.write.parquet(str(tmp_path / "out"))
    observe_all(written, [observed], ran=True)
    assert observed.result == expected  # rows seen before the filter, during the write

    skipped = Observed(df, aggs)
    observe_all(skipped.df.filter(F.col("v") > 1), [skipped], ran=False)
    assert skipped.result == expected  # nothing ran: the plan ran into the noop sink


def test_rows_held_out_by_a_backtest_count_as_input_not_as_quarantine():
    c = count_summary({ACCEPTED: 90, "bad_timestamp": 4, "after_cutoff": 6})
    assert (c["input_rows"], c["quarantined"], c["held_out"]) == (100, 4, 6)
    audit, problems = reconcile(D, {"actions": c}, {"actions": WriteResult("interactions", 1, 1, 90)},
                                WriteResult("quarantine", 1, 1, 4))
    assert problems == [] and audit[0][-1] == 6
