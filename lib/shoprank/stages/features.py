"""Stage `features`: user_features and item_features as of the end of the run date."""

from __future__ import annotations

from shoprank.errors import EmptyStageError
from shoprank.features import item_features, user_features
from shoprank.night import Night, stage


def run(night: Night) -> dict:
    rd, w = night.run_date, night.windows
    with stage(night, "features"):
        events = night.events()
        items = night.tables.require("items", rd, "ingest")
        users = night.tables.replace_partition(events.transform(user_features(rd)), "user_features", rd,
                                               night.run_version)
        catalogue = night.tables.replace_partition(events.transform(item_features(rd, items)), "item_features",
                                                   rd, night.run_version)
        if users.rows == 0 and not users.skipped:
            raise EmptyStageError(f"no active users in the window ending {w.end.isoformat()}")
        return {"users": users.rows, "items": catalogue.rows}
