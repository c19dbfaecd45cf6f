"""Replay the ranker's untrained starts on the lists a backtest stored, without Spark.

For every replayed night under `<artifacts>/_backtest` (local path), the model's own
code scores the stored training-window lists and validation lists with each start (the
plain fusion, the weighted fusion for each power given, each source alone) and prints
their NDCG@10, then the start the pooled rule (best on all labelled lists; the validation
window's override is left out) picks without the weighted fusion and with it (one power
at a time), and that pick's NDCG on validation. Last, the start training picks with the
night's own fusion power (the weighted fusion judged cross-fitted on the training windows, as
training does): the best start on all labelled lists with its paired gain over the anchor
(the weighted fusion), its standard error and the bar it must clear (`selection_bar`), and
the start; beside it the rule before 2026-12-06 (the better fusion as anchor, then the
validation window's own best beyond noise there); at the end, each night's start
(replayed, stored, the weighted fusion, the earlier rule's) scored on the next night's
validation lists, the week after (when label windows and nights are as far apart, the
week the start would serve). The training-window lists are the
whole candidate sets ("judge", as training does when they exist) or, with `--part
train`, the sampled training lists: run both to see which judges the starts better. The
weighted fusion's weights come from the training windows only, so its validation column
is out of sample. With `--choose-power`, each night also picks its fusion power among
`--powers` by the weighted fusion's cross-fitted NDCG on the training windows (as training
judges it); that pick and the fixed power 2 are scored on validation and a night later.
With `--across-nights`, each night also picks its start as training does (the better
fusion as anchor, a rival only beyond `selection_bar`) on the validation lists of this
and every earlier night pooled (windows apart when the nights are a horizon apart, as in
the shipped commands), scored a night later: evidence a year of nights gathers for a lead
no single night can show. With `--learned`, a fusion whose source weights coordinate ascent fitted
to the training windows' lists (NDCG@k) is scored beside them, out of sample too (not a
start training may pick). `--top M...` scores the fusion of the M sources best on the
training windows (equal weights: a hard cut where the weighted fusion shrinks), and
`--combsum` the sum of the sources' standardised scores (CombSUM: a source's confidence
counts, not only its order), plain and with the weighted fusion's weights; neither is a start.
`--copies S...` scores the weighted fusion with each source's weight divided by how many
copies of it the fusion holds (1 + the share of its top k that each other source also
ranks in its top k, to the power S; label-free), so that sources ranking alike share one
weight, on this week's lists and (the night's weights) a night later. `--segments M`
scores a weighted fusion per half of the users (split at the training lists' median
history length): each half's source quality is its own lists' NDCG shrunk towards all
lists' by M pseudo-lists, so a chart can lead for light users and a personal source for
heavy ones; this week's lists and a night later (`--split-by` another user feature,
e.g. `log_user_idle`). `--greedy` scores the equal-weight fusion of the sources forward
selection picks on the training windows (add the source that best lifts the fusion
there, while it does), this week and a night later. `--recent H...` scores the weighted
fusion with each source's quality weighing a training list 0.5 ** ((window - 1) / H),
the newest window most, this week and a night later.

    python bench/replay_starts.py /tmp/tb/artifacts/_backtest --powers 1 2 4 --part judge
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# Fusions scored beside the starts, never rivals in the start's tests.
NOT_STARTS = ("weighted", "learned", "top", "combsum", "greedy")


def judge(model, weights, lists: dict, k: int) -> dict[str, np.ndarray]:
    """Per-list NDCG@k of the model with these wide weights, on each part's lists."""
    from shoprank.ml.train import _list_ndcg

    model.get_layer("wide_logit").kernel.assign(weights)
    return {part: _list_ndcg(model, ds, k) for part, ds in lists.items()}


def learned(model, spec, quality: dict[str, float], power: float, lists: dict, k: int,
            passes: int = 3) -> dict[str, float]:
    """Source weights fitted to the training-window lists by coordinate ascent on mean
    NDCG@k (RankLib's CoordinateAscent, non-negative weights), from the weighted fusion's."""
    from shoprank.ml.model import weighted_prior

    def fit(w):
        return float(judge(model, weighted_prior(spec, w, 1.0), {"train": lists["train"]}, k)["train"].mean())

    w = {s: max(q, 0.0) ** power for s, q in quality.items()}
    best = fit(w)
    for _ in range(passes):
        moved = False
        for s in w:
            top = max(w.values())
            for v in ([w[s] * f for f in (0.0, 0.25, 0.5, 2.0, 4.0)] if w[s] > 0 else [0.05 * top, 0.2 * top]):
                got = fit({**w, s: v})
                if got > best + 1e-6:
                    best, w, moved = got, {**w, s: v}, True
        if not moved:
            break
    return w


def list_windows(files: list[str], n_features: int) -> np.ndarray:
    """Each labelled list's label window (1: the newest training window), in the order the
    lists are judged (files in order, lists holding a positive)."""
    import re

    from shoprank.ml.reader import lists

    return np.array([int(re.search(r"window=(\d+)", f).group(1))
                     for f in files for *_, label in lists([f], n_features) if label.sum() > 0])


def recent_quality(on_train: dict[str, np.ndarray], window: np.ndarray, half_life: float) -> dict[str, float]:
    """Each source's NDCG on the training lists, a list weighing 0.5 ** ((window - 1) /
    half_life): the newest window counts most, as the week served is newer still."""
    w = 0.5 ** ((window - 1) / half_life)
    return {s: float((v * w).sum() / w.sum()) for s, v in on_train.items()}


def greedy(model, spec, lists: dict, k: int, names: list[str]) -> list[str]:
    """Sources chosen by forward selection: from none, add the source whose equal-weight
    fusion with those chosen ranks the training-window lists best (NDCG@k), while that
    improves it. Complementary sources can win where the best ones alone are alike."""
    chosen: list[str] = []
    best = -1.0
    while len(chosen) < len(names):
        tried = {s: float(judge(model, _subset(spec, chosen + [s], names), {"train": lists["train"]},
                                k)["train"].mean()) for s in names if s not in chosen}
        s = max(tried, key=tried.get)
        if tried[s] <= best + 1e-6:
            break
        chosen, best = chosen + [s], tried[s]
    return chosen


def _subset(spec, chosen: list[str], names: list[str]) -> np.ndarray:
    """Wide weights of the equal-weight fusion of `chosen` (the others a hundredth: tie-breaks)."""
    from shoprank.ml.model import _wide

    return _wide(spec, {s: 1.0 if s in chosen else 0.01 for s in names})


def overlaps(spec, ds, depth: int) -> np.ndarray:
    """[S, S] mean share of source s's top `depth` candidates that source t also ranks in its
    top `depth`, over the lists of `ds` (sources in `_sources` order; label-free)."""
    cols = [i for i, n in enumerate(spec.feature_names) if n.startswith("inv_rank_")]
    total, lists = np.zeros((len(cols), len(cols))), 0
    for b in ds:
        x = b["features"].numpy()[..., cols]  # [B, N, S]; 0 where a source did not find the item
        x = np.where(b["mask"].numpy()[..., None], x, 0.0)
        kth = -np.sort(-x, axis=1)[:, min(depth, x.shape[1]) - 1, :]  # [B, S]
        top = (x >= kth[:, None, :]) & (x > 0)  # [B, N, S]: in the source's top `depth`
        both = np.einsum("bns,bnt->bst", top.astype(np.float64), top.astype(np.float64))
        size = np.maximum(top.sum(axis=1), 1)[:, :, None]  # [B, S, 1]
        total += (both / size).sum(axis=0)
        lists += len(x)
    return total / max(lists, 1)


def copy_weights(names: list[str], quality: dict[str, float], power: float, overlap: np.ndarray,
                 sharp: float) -> dict[str, float]:
    """The weighted fusion's weights, each divided by how many copies of its source the
    fusion holds (1 + the overlap of its top list with each other source's, to `sharp`):
    a source fused twice weighs what it weighed once."""
    from shoprank.ml.model import source_weights

    w = source_weights(names, quality, power)
    if not w:
        return w
    sim = np.clip(overlap, 0, 1) ** sharp
    np.fill_diagonal(sim, 1.0)
    copies = sim.sum(axis=1)
    a = np.array([w[n] for n in names]) / copies
    return dict(zip(names, a * len(a) / a.sum(), strict=True))


def user_feature(spec, ds, name: str) -> np.ndarray:
    """Each list's user feature `name` (e.g. `log_user_events`, its history length), in list order."""
    i = spec.feature_names.index(name)
    return np.concatenate([b["features"].numpy()[:, 0, i] for b in ds])


def half_quality(on_train: dict[str, np.ndarray], heavy: np.ndarray, quality: dict[str, float],
                 shrink: float) -> tuple[dict, dict]:
    """Each source's NDCG on the light and on the heavy half's training lists, shrunk towards
    its NDCG on all of them (`quality`) by `shrink` pseudo-lists."""
    return tuple({s: (v[heavy == h].sum() + shrink * quality[s]) / ((heavy == h).sum() + shrink)
                  for s, v in on_train.items()} for h in (False, True))


def halves(model, spec, cut: float, weights: tuple[dict, dict], power: float, ds, events: np.ndarray,
           k: int) -> np.ndarray:
    """Per-list NDCG@k of the fusion per half: `weights[0]` for users at or below `cut`."""
    from shoprank.ml.model import weighted_prior

    heavy = events > cut
    out = np.zeros(len(events))
    for half, q in enumerate(weights):
        v = judge(model, weighted_prior(spec, q, power), {"x": ds}, k)["x"]
        out[heavy == bool(half)] = v[heavy == bool(half)]
    return out


def score_sum(spec, weight: dict[str, float]) -> np.ndarray:
    """Wide weights [F, 1] summing each source's standardised score by `weight` (CombSUM)."""
    names = list(spec.feature_names)
    w = np.zeros((len(names), 1), np.float32)
    for s, a in weight.items():
        w[names.index(f"score_{s}")] = a
    return w


def cross_fitted_powers(spec, model, lists, got, quality, powers, k) -> dict[float, float]:
    """Each power's weighted fusion, NDCG on the training windows cross-fitted (`cross_fitted`)."""
    from shoprank.ml.model import weighted_prior
    from shoprank.ml.train import cross_fitted

    on_lists = {s: got[f"source:{s}"]["train"] for s in quality}

    def score(w):
        return judge(model, w, {"train": lists["train"]}, k)["train"]

    return {w: float(cross_fitted(on_lists, lambda v: float(v.mean()),
                                  lambda q, w=w: weighted_prior(spec, q, w), score).mean()) for w in powers}


def paired(v: np.ndarray, base: np.ndarray) -> tuple[float, float]:
    """(Mean NDCG of `v`, standard error of its per-list gain over `base`, the same lists)."""
    d = v - base
    return float(v.mean()), (float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf"))


def across_nights(seen: dict[str, list[np.ndarray]], min_gain_se: float) -> tuple[str, str]:
    """(The start training's rule picks on every night's validation lists so far, pooled;
    how the best rival fared against the anchor there)."""
    from shoprank.ml.train import pick_prior, pick_start, selection_bar

    pooled = {n: np.concatenate(v) for n, v in seen.items()}
    anchor = pick_prior({n: float(pooled[n].mean()) for n in ("fusion", "weighted_fusion")})
    n = len(pooled[anchor])
    on = {name: paired(v, pooled[anchor]) for name, v in pooled.items()}
    rival = pick_prior({name: v[0] for name, v in on.items()})
    return pick_start(on, anchor, min_gain_se, n), (
        f"anchor {anchor}, best {rival} {on[rival][0] - on[anchor][0]:+.4f} ± {on[rival][1]:.4f} on {n} lists, "
        f"bar {selection_bar(min_gain_se, len(on) - 1, n):.2f} standard errors")


def start_line(spec, meta, model, lists, got, quality, k) -> tuple[str, str, str]:
    """(A line on the start training picks on this night (its own fusion power) and its tests,
    the start, the start the rule before 2026-12-06 picked: the better fusion as anchor, then
    the validation window's own best beyond noise there)."""
    from shoprank.ml.model import weighted_prior
    from shoprank.ml.train import (
        ANCHOR,
        choose_start,
        cross_fitted,
        pick_prior,
        pick_start,
        selection_bar,
    )

    power, min_gain_se = meta["params"]["fusion_power"], meta["params"]["min_gain_se"]
    on = {n: v for n, v in got.items() if not n.startswith(NOT_STARTS)}
    in_sample = got.get(f"weighted_fusion^{power:g}") or judge(
        model, weighted_prior(spec, quality, power), lists, k)  # judged already when --powers holds it
    on["weighted_fusion"] = {**in_sample, "train": cross_fitted(  # as training judges it: out of sample
        {s: got[f"source:{s}"]["train"] for s in quality}, lambda v: float(v.mean()),
        lambda q: weighted_prior(spec, q, power), lambda w: judge(model, w, {"train": lists["train"]}, k)["train"])}
    labelled = {n: np.concatenate([v["train"], v["validation"]]) for n, v in on.items()}

    def test(on_lists: dict[str, np.ndarray], base: str) -> tuple[str, str]:
        """(the start, how the best rival fared against `base` on these lists)."""
        got = {n: paired(v, on_lists[base]) for n, v in on_lists.items()}
        rival, bar = pick_prior({n: v[0] for n, v in got.items()}), selection_bar(
            min_gain_se, len(got) - 1, len(on_lists[base]))
        return pick_start(got, base, min_gain_se, len(on_lists[base])), (
            f"{rival} {got[rival][0] - got[base][0]:+.4f} ± {got[rival][1]:.4f} on {len(on_lists[base])} lists, "
            f"bar {bar:.2f} standard errors")

    start, how = choose_start(labelled, paired, len, min_gain_se), test(labelled, ANCHOR)[1]
    anchor = pick_prior({n: float(labelled[n].mean()) for n in ("fusion", "weighted_fusion")})
    prior, first = test(labelled, anchor)
    earlier, second = test({n: v["validation"] for n, v in on.items()}, prior)
    return (f"weighted fusion on the training windows cross-fitted {on['weighted_fusion']['train'].mean():.4f} "
            f"(in sample {in_sample['train'].mean():.4f}); start (fusion power {power:g}): best on all lists "
            f"{how}: {start} (stored: {meta['history'][0]['prior']}); the rule before 2026-12-06: anchor {anchor}, "
            f"best on all lists {first}: {prior}; on validation {second}: {earlier}"), start, earlier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("backtest", type=Path, help="<artifacts>/_backtest of a finished backtest")
    ap.add_argument("--powers", type=float, nargs="+", default=[2.0])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--part", choices=("judge", "train"), default="judge",
                    help="the training windows' lists: whole candidate sets (judge) or sampled (train)")
    ap.add_argument("--choose-power", action="store_true",
                    help="also pick each night's power among --powers by cross-fitted training-window NDCG")
    ap.add_argument("--across-nights", action="store_true",
                    help="also pick each night's start on every night's validation lists so far, pooled")
    ap.add_argument("--top", type=int, nargs="*", default=[],
                    help="also score the fusion of the M sources best on the training windows")
    ap.add_argument("--combsum", action="store_true", help="also score the sum of standardised source scores")
    ap.add_argument("--copies", type=float, nargs="*", default=[],
                    help="also score the weighted fusion discounted by copies (overlap to these powers)")
    ap.add_argument("--segments", type=float, default=None, metavar="M",
                    help="also score a weighted fusion per half of the users (quality shrunk by M lists)")
    ap.add_argument("--split-by", default="log_user_events",
                    help="the user feature whose training-list median splits the halves (--segments)")
    ap.add_argument("--recent", type=float, nargs="*", default=[], metavar="H",
                    help="also score the weighted fusion with source quality weighing newer windows more "
                         "(half-life H windows)")
    ap.add_argument("--greedy", action="store_true",
                    help="also score the equal-weight fusion of sources chosen by forward selection")
    ap.add_argument("--learned", action="store_true",
                    help="also fit the source weights to the training windows (coordinate ascent)")
    args = ap.parse_args()

    from shoprank.ml.model import (
        ModelSpec,
        _sources,
        _wide,
        build_ranker,
        priors,
        source_weights,
        start_kernel,
        weighted_prior,
    )
    from shoprank.ml.reader import dataset
    from shoprank.ml.train import pick_prior

    totals: dict[str, list[np.ndarray]] = {}
    before: dict[str, tuple[str, dict, float]] = {}  # how: (start, source quality, power) of the night before
    seen: dict[str, list[np.ndarray]] = {}  # start: its validation lists' NDCG, night by night (--across-nights)
    prev_copies: dict[str, dict[str, float]] = {}  # the night before's weights discounted by copies (--copies)
    prev_recent: dict[float, dict[str, float]] = {}  # the night before's recency-weighted quality (--recent)
    prev_greedy = None  # the night before's chosen sources (--greedy)
    prev_halves = None  # the night before's (cut, weights per half, power) (--segments)
    for night in sorted(p.name for p in (args.backtest / "examples").iterdir()):
        meta = json.loads((args.backtest / "models" / night / "training.json").read_text())
        raw = meta["params"]["spec"]
        spec = ModelSpec(**{**raw, **{k: tuple(raw[k]) for k in ("feature_names", "mean", "std", "hidden")}})
        folders = {"train": args.part, "validation": "validation"}
        files = {part: sorted(str(f) for f in (args.backtest / "examples" / night / folder).rglob("*.parquet"))
                 for part, folder in folders.items()}
        whole = meta["params"]["validation_list_size"]
        sizes = {"train": meta["params"]["list_size"] if args.part == "train" else whole, "validation": whole}
        lists = {part: dataset(files[part], spec.n_features, sizes[part], 16) for part in files}
        model = build_ranker(spec)
        starts = priors(spec)
        got = {name: judge(model, w, lists, args.k) for name, w in starts.items()}
        quality = {n[len("source:"):]: float(got[n]["train"].mean()) for n in starts if n.startswith("source:")}
        for power in args.powers:
            got[f"weighted_fusion^{power:g}"] = judge(model, weighted_prior(spec, quality, power), lists, args.k)
        chosen = None  # the power picked cross-fitted (--choose-power)
        if args.choose_power:
            fitted_powers = cross_fitted_powers(spec, model, lists, got, quality, args.powers, args.k)
            chosen = max(fitted_powers, key=fitted_powers.get)
            print("  cross-fitted on the training windows: " + ", ".join(
                f"power {w:g} {v:.4f}" for w, v in fitted_powers.items()) + f"; chosen {chosen:g}")
            totals.setdefault("power chosen cross-fitted", []).append(got[f"weighted_fusion^{chosen:g}"]["validation"])
        best_first = sorted(quality, key=lambda s: -quality[s])
        for m in args.top:
            got[f"top{m}_fusion"] = judge(model, _subset(spec, best_first[:m], list(quality)), lists, args.k)
        if args.combsum:
            got["combsum"] = judge(model, score_sum(spec, dict.fromkeys(quality, 1.0)), lists, args.k)
            got["combsum_weighted"] = judge(model, score_sum(spec, source_weights(
                list(quality), quality, meta["params"]["fusion_power"])), lists, args.k)
        if args.copies:
            names = _sources(spec)
            overlap = overlaps(spec, lists["train"], args.k)
            power = meta["params"]["fusion_power"]
            print("  overlap of top lists: " + ", ".join(
                f"{s} {overlap[i].sum() - 1:.2f}" for i, s in enumerate(names)))
            for sharp in args.copies:
                w = copy_weights(names, quality, power, overlap, sharp)
                got[f"weighted_copies^{sharp:g}"] = judge(model, _wide(spec, w), lists, args.k)
                before_copies = prev_copies.get(f"copies^{sharp:g}")
                if before_copies is not None:
                    v = judge(model, _wide(spec, before_copies), {"validation": lists["validation"]}, args.k)
                    totals.setdefault(f"copies^{sharp:g}, a night later", []).append(v["validation"])
        if args.segments is not None:
            events = {part: user_feature(spec, ds, args.split_by) for part, ds in lists.items()}
            cut, power = float(np.median(events["train"])), meta["params"]["fusion_power"]
            weights = half_quality({s: got[f"source:{s}"]["train"] for s in quality}, events["train"] > cut,
                                   quality, args.segments)
            got["weighted_halves"] = {part: halves(model, spec, cut, weights, power, ds, events[part], args.k)
                                      for part, ds in lists.items()}
            if prev_halves is not None:
                totals.setdefault("weighted halves, a night later", []).append(halves(
                    model, spec, *prev_halves, lists["validation"], events["validation"], args.k))
            prev_halves = (cut, weights, power)
        if args.recent:
            window = list_windows(files["train"], spec.n_features)
            power = meta["params"]["fusion_power"]
            for h in args.recent:
                q = recent_quality({s: got[f"source:{s}"]["train"] for s in quality}, window, h)
                got[f"weighted_recent{h:g}"] = judge(model, weighted_prior(spec, q, power), lists, args.k)
                if h in prev_recent:
                    totals.setdefault(f"recent quality h={h:g}, a night later", []).append(judge(
                        model, weighted_prior(spec, prev_recent[h], power),
                        {"v": lists["validation"]}, args.k)["v"])
                prev_recent[h] = q
        if args.greedy:
            names = _sources(spec)
            picked = greedy(model, spec, lists, args.k, names)
            print("  forward selection: " + " + ".join(picked))
            got["greedy_fusion"] = judge(model, _subset(spec, picked, names), lists, args.k)
            if prev_greedy is not None:
                totals.setdefault("greedy fusion, a night later", []).append(judge(
                    model, _subset(spec, prev_greedy, names), {"v": lists["validation"]}, args.k)["v"])
            prev_greedy = picked
        if args.learned:
            fitted = learned(model, spec, quality, meta["params"]["fusion_power"], lists, args.k)
            got["learned_fusion"] = judge(model, weighted_prior(spec, fitted, 1.0), lists, args.k)
        pooled = {n: float(np.concatenate([v["train"], v["validation"]]).mean()) for n, v in got.items()}
        plain = {n: v for n, v in pooled.items() if not n.startswith(NOT_STARTS)}
        picks = {"without the weighted fusion": pick_prior(plain)}
        picks |= {f"with weighted_fusion^{w:g}": pick_prior({**plain, f"weighted_fusion^{w:g}": pooled[
            f"weighted_fusion^{w:g}"]}) for w in args.powers}
        n_train, n_val = len(got["fusion"]["train"]), len(got["fusion"]["validation"])
        print(f"night {night}: {n_train} training-window lists ({args.part}), {n_val} validation lists; "
              f"NDCG@{args.k} training windows / validation")
        for name, v in got.items():
            print(f"  {name:30s} {v['train'].mean():.4f} / {v['validation'].mean():.4f}")
            totals.setdefault(name, []).append(v["validation"])
        for label, pick in picks.items():
            print(f"  pooled pick {label}: {pick} (validation {got[pick]['validation'].mean():.4f})")
            totals.setdefault(f"pick {label}", []).append(got[pick]["validation"])
        line, start, earlier = start_line(spec, meta, model, lists, got, quality, args.k)
        print("  " + line)
        for how, (name, q, power) in before.items():  # the night before's pick on this week's lists
            v = judge(model, start_kernel(spec, name, q, power), {"validation": lists["validation"]}, args.k)["validation"]
            totals.setdefault(f"{how} start, a night later", []).append(v)
            print(f"  the night before's {how} start ({name}) on these validation lists: {v.mean():.4f}")
        power = meta["params"]["fusion_power"]
        if args.copies:
            prev_copies = {f"copies^{sharp:g}": copy_weights(names, quality, power, overlap, sharp)
                           for sharp in args.copies}
        before = {"replayed": (start, quality, power), "stored": (meta["history"][0]["prior"], quality, power),
                  "weighted fusion": ("weighted_fusion", quality, power),
                  "rule before 2026-12-06": (earlier, quality, power)}
        if args.across_nights:
            weighted = got.get(f"weighted_fusion^{power:g}") or judge(  # judged already when --powers holds it
                model, weighted_prior(spec, quality, power), {"validation": lists["validation"]}, args.k)
            for name, v in {**{n: got[n] for n in starts}, "weighted_fusion": weighted}.items():
                seen.setdefault(name, []).append(v["validation"])
            pooled_start, how = across_nights(seen, meta["params"]["min_gain_se"])
            print(f"  on every night's validation lists so far: {how}: {pooled_start}")
            before["validation windows pooled"] = (pooled_start, quality, power)
        if chosen is not None:
            before |= {"weighted_fusion^2": ("weighted_fusion", quality, 2.0),
                       "power chosen cross-fitted": ("weighted_fusion", quality, chosen)}
    print(f"all nights, validation NDCG@{args.k} over {sum(len(v) for v in totals['fusion'])} lists:")
    for name, v in totals.items():
        print(f"  {name:30s} {np.concatenate(v).mean():.4f}")


if __name__ == "__main__":
    main()
