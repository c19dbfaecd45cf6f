import datetime as dt

from shoprank.pipeline import _count_summary, reconcile
from shoprank.storage import WriteResult

D = dt.date(2026, 11, 21)


def counts():
    actions = _count_summary({None: 90, "null_user_id": 4, "bot_user": 2, "exact_duplicate": 3, "near_duplicate": 1})
    items = _count_summary({None: 10, "bad_price": 1, "superseded": 2})
    return {"actions": actions, "items": items}


def test_outcome_counts_split_into_accepted_quarantined_duplicates():
    c = counts()
    assert c["actions"] == {"input_rows": 100, "accepted": 90, "quarantined": 6, "duplicates": 4,
                            "exact_duplicates": 3, "near_duplicates": 1}
    assert c["items"]["duplicates"] == 2 and c["items"]["quarantined"] == 1


def test_reconciled_run_has_no_problems():
    written = {"actions": WriteResult("interactions", 1, 2, 90), "items": WriteResult("items", 1, 1, 10)}
    audit, problems = reconcile(D, counts(), written, WriteResult("quarantine", 1, 1, 7))
    assert problems == []
    assert [a[-1] for a in audit] == [True, True]
    assert audit[0] == (D, "actions", 100, 90, 6, 3, 1, True)


def test_lost_rows_are_reported():
    written = {"actions": WriteResult("interactions", 1, 2, 89), "items": WriteResult("items", 1, 1, 10)}
    audit, problems = reconcile(D, counts(), written, WriteResult("quarantine", 1, 1, 5))
    assert audit[0][-1] is False
    assert problems == ["actions: input 100 != accepted 89 + quarantined 6 + duplicates 4",
                        "quarantine: wrote 5 rows, expected 7"]


def test_skipped_retry_counts_as_written():
    written = {"actions": WriteResult("interactions", None, 0, 0, skipped=True),
               "items": WriteResult("items", None, 0, 0, skipped=True)}
    _, problems = reconcile(D, counts(), written, WriteResult("quarantine", None, 0, 0, skipped=True))
    assert problems == []
