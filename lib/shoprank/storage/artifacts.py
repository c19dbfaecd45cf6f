"""The artifact store: every file a night writes that is not a Delta table.

Training shards, checkpoints, models and reports live under one root location
(a local path or a URI, see `storage.fs`), named by kind and run date. Stages ask
for a name; the trainer and the scorer receive the locations this store lists.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shoprank.storage import fs


@dataclass(frozen=True)
class ArtifactStore:
    root: str

    @classmethod
    def at(cls, root: str) -> ArtifactStore:
        return cls(fs.absolute(root))

    def location(self, *parts: str) -> str:
        return fs.join(self.root, *parts)

    # -- layout ------------------------------------------------------------
    def examples(self, run_date: dt.date, split: str) -> str:
        """Parquet shards of training or validation examples (written by Spark)."""
        return self.location("examples", run_date.isoformat(), split)

    def recall_kept(self) -> str:
        """Recall sources' outputs per cutoff, kept for later nights (`recall.reuse`)."""
        return self.location("recall")

    def feature_stats(self, run_date: dt.date) -> str:
        """The ranker inputs' names, means and deviations over the training rows (JSON)."""
        return self.location("examples", run_date.isoformat(), "feature_stats.json")

    def model_dir(self, run_date: dt.date) -> str:
        """model.keras, training.json and checkpoints/ of one night's ranker."""
        return self.location("models", run_date.isoformat())

    def model(self, run_date: dt.date) -> str:
        return fs.join(self.model_dir(run_date), "model.keras")

    def report_dir(self, run_date: dt.date) -> str:
        """The night's data report (the quality gate's page)."""
        return self.location("reports", run_date.isoformat())

    def quality_dir(self, run_date: dt.date) -> str:
        """The night's quality page: published lists scored, beside baselines, with trends.
        Beside the data report's folder, not in it: publishing a page replaces its folder,
        and the gate may rerun after evaluate has published."""
        return self.location("reports", "quality", run_date.isoformat())

    def backtest_dir(self, last_night: dt.date) -> str:
        """The backtest's quality page; publishing it replaces this folder."""
        return self.location("reports", "backtest", last_night.isoformat())

    def backtest_users(self, last_night: dt.date, night: dt.date | None = None, model: str | None = None) -> str:
        """Per-user NDCG of every list a backtest scored (Parquet, BACKTEST_USERS), one
        folder per night and model: what the confidence intervals resample. Beside the
        page's folder, not in it, so that publishing the page keeps them."""
        root = self.location("reports", "backtest_users", last_night.isoformat())
        if night is None:
            return root
        return fs.join(root, night.isoformat(), model.replace(":", "_"))

    # -- operations --------------------------------------------------------
    def shards(self, location: str) -> list[str]:
        return fs.list_files(location, ".parquet")

    def exists(self, location: str) -> bool:
        return fs.exists(location)

    def clear(self, location: str) -> None:
        fs.delete(location)
