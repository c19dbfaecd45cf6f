"""What the shop knew at a cutoff t: the events before t, the catalogue and what may be
recommended. Candidates and the ranker's features come from a snapshot, so a training
window (t = its start), validation and the night (t = its end) share one code path
and nothing after t reaches either."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from shoprank import recall
from shoprank.config import Config
from shoprank.features import feature_names, pair_features, user_features
from shoprank.materialise import materialise, materialise_all, release
from shoprank.transforms import in_window


@dataclass(frozen=True)
class Snapshot:
    events: DataFrame  # interactions before t, within the horizon
    catalogue: DataFrame  # ITEMS of the night
    allowed: DataFrame  # item_id: what may be recommended
    t: dt.datetime
    cfg: Config
    vectors: DataFrame | None = None  # item_id, vector: text embeddings, when on
    interest: DataFrame | None = None  # interests() computed once, by `prepared`

    @classmethod
    def at(cls, history: DataFrame, catalogue: DataFrame, allowed: DataFrame, t: dt.datetime, cfg: Config,
           vectors: DataFrame | None = None) -> Snapshot:
        start = t - dt.timedelta(days=cfg.validation.horizon_days)
        return cls(history.transform(in_window(start, t)), catalogue, allowed, t, cfg, vectors)

    @property
    def with_text(self) -> bool:
        return self.vectors is not None

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(recall.sources(self.cfg.candidates, self.with_text))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return feature_names(self.sources, self.with_text)

    def users(self, only: DataFrame | None = None) -> DataFrame:
        """(user_id, top_categories, ...) of users with events before t (or some of them)."""
        events = self.events if only is None else self.events.join(only, "user_id", "left_semi")
        return events.transform(user_features(self.t.date()))

    def seen(self, touched: DataFrame | None = None) -> DataFrame | None:
        """(user, item) pairs never recommended again, per `score.exclude` (`touched`: the
        events' distinct pairs, when the caller has them)."""
        rule = self.cfg.score.exclude
        if rule == "none":
            return None
        if rule == "purchased":
            return recall.touched_pairs(self.events.filter(F.col("action") == "purchase"))
        return touched if touched is not None else recall.touched_pairs(self.events)

    def interests(self) -> DataFrame | None:
        """(user_id, interest, last_vector): a time-decayed mean of the embeddings of the
        user's recent items (recent ones weigh more), and the last item's embedding."""
        if self.vectors is None or self.interest is not None:
            return self.interest
        from shoprank.text import interests

        return interests(self.events, self.vectors, self.t, self.cfg.candidates.decay_days)

    def prepared(self) -> Snapshot:
        """This snapshot with its interest vectors computed now, once (a named step; with
        text only): a training window reads them in recall and in each list set's features,
        and each read would run the per-user pandas aggregation again. The caller releases
        `interest`."""
        if self.vectors is None or self.interest is not None:
            return self
        return dataclasses.replace(self, interest=materialise(self.interests()))

    def candidates(self, users: DataFrame, run_date: dt.date, kept_at: str | None = None) -> DataFrame:
        """CANDIDATES of the given users as of t: computed here (a named step), each source
        once, and materialised; the caller releases the result (`materialise.release`).
        With `kept_at`, event-based sources' outputs are kept there and read back on a
        later night whose inputs match (`recall.reuse`)."""
        from shoprank.recall import reuse

        p = self.cfg.candidates
        since = recall.chart_start(self.events, self.t, p.popular_days, p.popular_min_events)
        # The pairs the chart sources, content and the exclusion all read: cached when first
        # computed (not when every reader's output is read back), shared after.
        touched = recall.touched_pairs(self.events).cache()
        inputs = recall.RecallInputs(self.events, users, self.allowed, self.t, p, self.vectors, self.interests(),
                                     since, touched)
        makers = reuse.makers(inputs, recall.sources(p, self.with_text), kept_at)
        per_source = materialise_all(self.events.sparkSession, makers, p.concurrent_sources,
                                     f"recall as of {self.t}:")
        merged = materialise(recall.merge(run_date, per_source, p.per_source, self.seen(touched),
                                          self.allowed))
        for scored in per_source.values():
            release(scored)
        release(touched)
        return merged

    def features(self, pairs: DataFrame) -> DataFrame:
        return pairs.transform(pair_features(self.events, self.catalogue, self.t, self.sources,
                                             self.cfg.candidates.rank_offset, self.interests(), self.vectors))
