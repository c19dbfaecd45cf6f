"""Synthetic e-commerce logs in the canonical input format.

Shape: power-law item popularity; categories with their own price levels and
brands; users with preferred categories and a price band, so personalisation
can beat popularity; a view -> click -> favorite/cart -> purchase funnel over
several days. Item descriptions hold quoted commas, quotes and line breaks; a few
items (popular ones among them) are inactive. Dirt, at `dirt_rate`: exact duplicates, double-click
near-duplicates, null ids, unknown actions, unparseable and future timestamps,
malformed lines, actions on items missing from the item table; in the item
table: negative prices, stale duplicate rows, missing categories and prices.

Runs on the driver with numpy in bounded chunks: it produces data, it does not
process it, and memory stays flat whatever the scale.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shoprank.config import GenerateConf

log = logging.getLogger(__name__)

CATEGORY_NAMES = [
    "electronics", "home", "kitchen", "fashion", "shoes", "beauty", "sports", "toys",
    "books", "garden", "grocery", "pets", "office", "automotive", "music", "health",
]
ADJECTIVES = ["classic", "smart", "compact", "premium", "eco", "ultra", "soft", "pro", "mini", "deluxe"]
NOUNS = ["set", "pack", "edition", "kit", "model", "series", "bundle", "line"]
PRICE_BANDS = 5
SESSION_CHUNK = 200_000


@dataclass(frozen=True)
class GeneratedCounts:
    actions: int
    items: int
    dirty_actions: int
    dirty_items: int
    files: list[str]


def _category_names(n: int) -> list[str]:
    return [CATEGORY_NAMES[i] if i < len(CATEGORY_NAMES) else f"category_{i:03d}" for i in range(n)]


def _items(cfg: GenerateConf, rng: np.random.Generator) -> pd.DataFrame:
    n = cfg.items
    cats = _category_names(cfg.categories)
    cat_of = rng.integers(0, cfg.categories, n)
    cat_price = rng.uniform(np.log(5), np.log(400), cfg.categories)
    log_price = cat_price[cat_of] + rng.normal(0, 0.6, n)
    brands_per_cat = max(2, cfg.brands // cfg.categories)
    brand = cat_of * brands_per_cat + rng.integers(0, brands_per_cat, n)
    # Power-law popularity: weight ~ 1 / rank, ranks shuffled over the catalogue.
    ranks = rng.permutation(n) + 1
    popularity = 1.0 / ranks
    if cfg.hot_item_share > 0:  # skew for benchmarks: the top 1% of items get this share
        hot = ranks <= max(1, n // 100)
        hot_sum, cold_sum = popularity[hot].sum(), popularity[~hot].sum()
        scale = hot_sum * (1 - cfg.hot_item_share) / (cfg.hot_item_share * cold_sum)
        popularity = np.where(hot, popularity, popularity * scale)
    return pd.DataFrame({
        "item_id": [f"i{i:06d}" for i in range(n)],
        "category": [cats[c] for c in cat_of],
        "cat_idx": cat_of,
        "brand": [f"brand_{b:03d}" for b in brand],
        "price": np.round(np.exp(log_price), 2),
        "log_price": log_price,
        "popularity": popularity,
        "title": [
            f"  {f'brand_{b:03d}'.title()}  {ADJECTIVES[i % 10]} {cats[c]} {NOUNS[i % 8]} {i}  "
            for i, (b, c) in enumerate(zip(brand, cat_of, strict=True))
        ],
    })


def _group_sampler(items: pd.DataFrame, n_cats: int):
    """Inverse-CDF sampler for items within (category, price band) groups."""
    bands = np.digitize(items["log_price"], np.quantile(items["log_price"], np.linspace(0, 1, PRICE_BANDS + 1)[1:-1]))
    group = items["cat_idx"].to_numpy() * PRICE_BANDS + bands
    order = np.lexsort((-items["popularity"].to_numpy(), group))
    g_sorted = group[order]
    w = items["popularity"].to_numpy()[order]
    n_groups = n_cats * PRICE_BANDS
    cdf = np.zeros(len(order))
    starts = np.searchsorted(g_sorted, np.arange(n_groups))
    ends = np.searchsorted(g_sorted, np.arange(n_groups), side="right")
    for g in range(n_groups):
        s, e = starts[g], ends[g]
        if e > s:
            cdf[s:e] = g + np.cumsum(w[s:e]) / w[s:e].sum()
    nonempty = ends > starts
    # An empty (category, band) group borrows the nearest non-empty band of its category.
    fallback = np.arange(n_groups)
    for g in np.flatnonzero(~nonempty):
        cat, b = divmod(g, PRICE_BANDS)
        options = [cat * PRICE_BANDS + x for x in sorted(range(PRICE_BANDS), key=lambda x: abs(x - b))]
        options = [o for o in options if nonempty[o]] or list(np.flatnonzero(nonempty))
        fallback[g] = options[0]

    def sample(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        groups = fallback[groups]
        pos = np.searchsorted(cdf, groups + rng.random(len(groups)) * 0.999999, side="right")
        pos = np.minimum(pos, len(order) - 1)
        return order[pos]

    return sample


def _users(cfg: GenerateConf, rng: np.random.Generator):
    n = cfg.users
    pref = np.full((n, cfg.categories), 0.15 / cfg.categories)
    for u in range(n):
        k = rng.integers(1, 4)
        chosen = rng.choice(cfg.categories, k, replace=False)
        pref[u, chosen] += 0.85 * rng.dirichlet(np.ones(k))
    band = rng.integers(0, PRICE_BANDS, n)
    activity = rng.lognormal(0, 0.7, n)
    return pref / pref.sum(1, keepdims=True), band, activity / activity.mean()


def _sessions(cfg, day_start: float, pref, band, activity, sampler, rng):
    """One day of events as a DataFrame: user, item, action, ts."""
    n_sess = rng.poisson(cfg.sessions_per_user_day * activity)
    users = np.repeat(np.arange(cfg.users), n_sess)
    out = []
    for lo in range(0, len(users), SESSION_CHUNK):
        su = users[lo:lo + SESSION_CHUNK]
        cum = np.cumsum(pref[su], axis=1)
        cat = (cum < rng.random(len(su))[:, None]).sum(1).clip(0, cfg.categories - 1)
        own_band = rng.random(len(su)) < 0.75
        sband = np.where(own_band, band[su], rng.integers(0, PRICE_BANDS, len(su)))
        n_views = rng.integers(1, 7, len(su))
        vu = np.repeat(su, n_views)
        vg = np.repeat(cat * PRICE_BANDS + sband, n_views)
        items = sampler(vg, rng)
        start = day_start + rng.uniform(0, 86_000 - 600, len(su))
        ts = np.repeat(start, n_views) + np.concatenate([np.arange(k) * 40 for k in n_views]) + rng.uniform(0, 30, len(vu))
        frames = [pd.DataFrame({"u": vu, "i": items, "a": "view", "ts": ts})]
        # Funnel: a user clicks items that fit their taste more often.
        click = rng.random(len(vu)) < 0.35
        fav = click & (rng.random(len(vu)) < 0.12)
        cart = click & (rng.random(len(vu)) < 0.3)
        buy = cart & (rng.random(len(vu)) < 0.5)
        for mask, name, lag in ((click, "click", 5), (fav, "favorite", 12), (cart, "add_to_cart", 20), (buy, "purchase", 200)):
            frames.append(pd.DataFrame({"u": vu[mask], "i": items[mask], "a": name, "ts": ts[mask] + lag}))
        out.append(pd.concat(frames, ignore_index=True))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["u", "i", "a", "ts"])


def _fmt_ts(ts: np.ndarray, rng) -> list[str]:
    """Mix unix seconds and ISO-8601, as real exports do."""
    iso = rng.random(len(ts)) < 0.2
    secs = ts.astype(np.int64)
    as_iso = pd.to_datetime(secs, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    return np.where(iso, as_iso, secs.astype(str)).tolist()


def _dirty_actions(day_df: pd.DataFrame, rate: float, run_end: float, rng,
                   with_bot: bool) -> tuple[pd.DataFrame, list[str]]:
    """Return (rows to append, raw malformed lines)."""
    n = max(1, int(len(day_df) * rate))
    pick = lambda: day_df.iloc[rng.integers(0, len(day_df), n)].copy()  # noqa: E731
    dup = pick()
    near = pick()
    secs = pd.to_numeric(near["ts"], errors="coerce")
    iso = secs.isna()
    secs[iso] = pd.to_datetime(near["ts"][iso], utc=True).astype("int64") // 10**9
    near["ts"] = (secs.astype(np.int64) + 1).astype(str)  # a double click, 1 s later
    null_user = pick()
    null_user["user_id"] = ""
    null_item = pick()
    null_item["item_id"] = ""
    unknown = pick()
    unknown["action"] = "hover"
    bad_ts = pick()
    bad_ts["ts"] = "not-a-time"
    future = pick()
    future["ts"] = str(int(run_end + 3 * 86_400))
    ghost = pick()
    ghost["item_id"] = [f"ghost{k:05d}" for k in rng.integers(0, 500, n)]
    stale = pick()
    stale["ts"] = str(int(run_end - 400 * 86_400))  # older than any sensible horizon
    bot = pick().iloc[:1 if with_bot else 0]
    bot = bot.loc[bot.index.repeat(2500)].copy()  # one user, 2,500 events in a day
    bot["user_id"] = f"bot{int(rng.integers(0, 10**6)):06d}"
    bot["item_id"] = day_df["item_id"].sample(len(bot), replace=True, random_state=1).to_numpy()
    bot["ts"] = (pd.to_numeric(day_df["ts"], errors="coerce").dropna().astype(np.int64).min()
                 + np.arange(len(bot)) * 7).astype(str)
    rows = pd.concat([dup, near, null_user, null_item, unknown, bad_ts, future, stale, ghost, bot],
                     ignore_index=True)
    malformed = [f"{r.user_id},{r.item_id},{r.action},{r.ts},unexpected,field" for r in pick().itertuples()]
    return rows, malformed


def generate(cfg: GenerateConf, actions_dir: str | Path, items_dir: str | Path, run_date: dt.date,
             fmt: str = "csv") -> GeneratedCounts:
    """Write one actions file per day into `actions_dir` (ending on `run_date`) and
    the item table into `items_dir`. Existing files there are replaced."""
    rng = np.random.default_rng(cfg.seed)
    actions_dir, items_dir = Path(actions_dir), Path(items_dir)
    for d in (actions_dir, items_dir):
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob("*"):
            if old.is_file():
                old.unlink()
    items = _items(cfg, rng)
    sampler = _group_sampler(items, cfg.categories)
    pref, band, activity = _users(cfg, rng)
    run_end = dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()
    files, n_actions, n_dirty = [], 0, 0
    ext = {"csv": "csv", "json": "jsonl", "parquet": "parquet"}[fmt]
    for d in range(cfg.days):
        day = run_date - dt.timedelta(days=cfg.days - 1 - d)
        day_start = dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()
        ev = _sessions(cfg, day_start, pref, band, activity, sampler, rng)
        df = pd.DataFrame({
            "user_id": [f"u{u:06d}" for u in ev["u"]],
            "item_id": items["item_id"].to_numpy()[ev["i"].to_numpy()],
            "action": ev["a"].to_numpy(),
            "ts": _fmt_ts(ev["ts"].to_numpy(), rng),
            "device": rng.choice(["web", "ios", "android"], len(ev)),  # an extra column, kept
        })
        malformed: list[str] = []
        if cfg.dirt_rate > 0 and len(df):
            dirty, malformed = _dirty_actions(df, cfg.dirt_rate, run_end, rng, with_bot=d == cfg.days - 1)
            n_dirty += len(dirty) + len(malformed)
            df = pd.concat([df, dirty], ignore_index=True)
        df = df.sample(frac=1.0, random_state=int(rng.integers(0, 2**31))).reset_index(drop=True)
        path = actions_dir / f"actions-{day.isoformat()}.{ext}"
        _write(df, path, fmt, malformed)
        files.append(str(path))
        n_actions += len(df) + len(malformed)
        log.info("generated %s: %d events", path.name, len(df) + len(malformed))

    table = items[["item_id", "category", "brand", "price", "title"]].copy()
    table["updated_at"] = (run_date - dt.timedelta(days=2)).isoformat() + "T00:00:00Z"
    # Descriptions as shops write them: commas, quotes and line breaks inside the field.
    table["description"] = [f'{t.strip()}, "{ADJECTIVES[i % 10]}" quality.' + ("\nCare: wipe clean." if i % 3 == 0 else "")
                            for i, t in enumerate(table["title"])]
    # Some items are not for sale (discontinued, out of stock), popular ones included.
    inactive = rng.random(len(table)) < cfg.inactive_rate
    inactive[np.argsort(-items["popularity"].to_numpy())[:max(1, int(len(table) * cfg.inactive_rate / 2))]] = True
    table["active"] = np.where(inactive, "false", "true")
    dirty_items = 0
    if cfg.dirt_rate > 0:
        k = max(1, int(len(table) * cfg.dirt_rate * 3))
        idx = rng.choice(len(table), k * 4, replace=False)
        stale = table.iloc[idx[:k]].copy()  # an older version of the row: the latest must win
        stale["updated_at"] = (run_date - dt.timedelta(days=20)).isoformat() + "T00:00:00Z"
        stale["price"] = stale["price"] * 3
        table.loc[table.index[idx[k:2 * k]], "price"] = np.nan  # gaps: filled with category median
        table.loc[table.index[idx[2 * k:3 * k]], "category"] = ""
        negative = table.iloc[idx[3 * k:]].copy()
        negative["price"] = -negative["price"]
        negative["updated_at"] = (run_date - dt.timedelta(days=30)).isoformat() + "T00:00:00Z"
        table = pd.concat([table, stale, negative], ignore_index=True)
        dirty_items = 2 * k
    _write(table, items_dir / f"items.{ext}", fmt, [])
    log.info("generated %d items (%d dirty rows), %d actions (%d dirty)", len(table), dirty_items, n_actions, n_dirty)
    return GeneratedCounts(n_actions, len(table), n_dirty, dirty_items, files)


def _write(df: pd.DataFrame, path: Path, fmt: str, malformed: list[str]) -> None:
    if fmt == "csv":
        df.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
        if malformed:
            with path.open("a") as fh:
                fh.write("\n".join(malformed) + "\n")
    elif fmt == "json":
        df.to_json(path, orient="records", lines=True)
        if malformed:
            with path.open("a") as fh:
                fh.write("\n".join(line.replace(",", "{", 1) for line in malformed) + "\n")
                fh.write(json.dumps({"user_id": "u1"})[:-1] + "\n")  # truncated JSON
    else:
        df.astype({c: "string" for c in df.columns}).to_parquet(path, index=False)
