"""Replay the ranker's epoch choice on the week each night's model served, without Spark.

For every replayed night under `<artifacts>/_backtest` (local path) but the last, each of
its epochs (0: the untrained start; then every checkpoint training wrote) is scored on the
next night's validation lists: when nights and label windows are as far apart (the
shipped backtest commands), those are the labels of the week the night's lists served,
the positives among whole candidate sets. Then each rule for the epoch served is applied
to the night's own validation history (as training stored it in `training.json`) and its
pick is scored the same way: the start always, the best point NDCG, the largest gain less
`z` standard errors (`kept_epoch`, training's rule until 2026-12-03), and that with the
bar raised for the best of the night's epochs (`epoch_bar`, training's rule since). The
served models were refit (unless `train.refit` was off), the checkpoints are not: the
last line per night gives the refit-free figure of the epoch that was kept. Beside them,
the best-point epoch served only when its held-out gain (picked on the other `--folds` of
the night's validation lists, scored on the rest) clears `z` standard errors. With `--mix`,
the best-point epoch is also served shrunk towards the start: the logit (1 - a) x start + a x
epoch for each `a` (robust fine-tuning's weight-space ensemble, exact here because the deep
part starts at zero and the wide part is linear).

    python bench/replay_epochs.py /tmp/ml100k/artifacts-ml100k/_backtest --z 1 2 --mix 0.25 0.5
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def rules(history: list[dict], zs: list[float], lists: int) -> dict[str, int]:
    """The epoch each rule would serve, from the night's validation history on `lists` lists."""
    from shoprank.ml.train import _ndcg, epoch_bar, kept_epoch

    out = {"start": 0, "best point": max(history, key=_ndcg)["epoch"]}
    for z in zs:
        out[f"surest, {z:g} SE"] = kept_epoch(history, z)
        out[f"surest, bar for the best of the epochs at {z:g} SE"] = kept_epoch(history, epoch_bar(history, z, lists))
    return out


def held_out_gain(on_lists: np.ndarray, folds: int) -> np.ndarray:
    """Per-list gain over the start of the best trained epoch, out of sample: each of
    `folds` interleaved folds (every `folds`-th list) takes the trained epoch with the best
    mean NDCG on the other lists and is scored with it. `on_lists`: (epochs, lists)
    per-list NDCG, row 0 the start. Judged on the lists it was picked on, the best of many
    epochs gains by luck; on the others its gain is what picking the best epoch is worth."""
    n = on_lists.shape[1]
    out = np.zeros(n)
    for f in range(folds if len(on_lists) > 1 else 0):
        held = np.zeros(n, dtype=bool)
        held[f::folds] = True
        pick = 1 + int(np.argmax(on_lists[1:, ~held].mean(axis=1))) if (~held).any() else 0
        out[held] = (on_lists[pick] - on_lists[0])[held]
    return out


def held_out_rules(on_lists: np.ndarray, zs: list[float], folds: list[int]) -> dict[str, int]:
    """The best-point trained epoch, served only if its held-out gain (`held_out_gain`)
    less `z` of its standard errors stays above zero."""
    best = 1 + int(np.argmax(on_lists[1:].mean(axis=1))) if len(on_lists) > 1 else 0
    out = {}
    for f in folds:
        d = held_out_gain(on_lists, f)
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.inf
        print(f"  held out over {f} folds: gain {d.mean():+.4f} ± {se:.4f}")
        for z in zs:
            out[f"best point if held-out gain > {z:g} SE, {f} folds"] = best if d.mean() - z * se > 0 else 0
    return out


def logits(model, ds) -> list[tuple]:
    """(logits, labels, mask) of every batch of padded lists, as arrays."""
    from shoprank.ml.model import score_lists

    return [(score_lists(model, b).numpy(), b["label"].numpy(), b["mask"].numpy()) for b in ds]


def mixed(start: list[tuple], epoch: list[tuple], a: float) -> list[tuple]:
    """The batches of `logits` with the logits (1 - a) x start + a x epoch."""
    return [((1 - a) * s + a * e, label, mask) for (s, label, mask), (e, _, _) in zip(start, epoch, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("backtest", type=Path, help="<artifacts>/_backtest of a finished backtest")
    ap.add_argument("--z", type=float, nargs="+", default=[1.0])
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--folds", type=int, nargs="+", default=[2])
    ap.add_argument("--mix", type=float, nargs="*", default=[], metavar="A",
                    help="also serve the best-point epoch shrunk towards the start by these weights")
    args = ap.parse_args()

    from shoprank.ml.model import ModelSpec, build_ranker, start_kernel
    from shoprank.ml.reader import dataset
    from shoprank.ml.train import _list_ndcg, _ndcg, scored_ndcg

    nights = sorted(p.name for p in (args.backtest / "examples").iterdir())
    totals: dict[str, list[np.ndarray]] = {}
    for night, after in zip(nights, nights[1:], strict=False):
        folder = args.backtest / "models" / night
        meta = json.loads((folder / "training.json").read_text())
        raw, history = meta["params"]["spec"], meta["history"]
        spec = ModelSpec(**{**raw, **{k: tuple(raw[k]) for k in ("feature_names", "mean", "std", "hidden")}})
        week, own = (dataset(sorted(str(f) for f in (args.backtest / "examples" / n / "validation").rglob(
            "*.parquet")), spec.n_features, meta["params"]["validation_list_size"], 16) for n in (after, night))
        model = build_ranker(spec)
        start = history[0]
        prior = start["prior"]
        model.get_layer("wide_logit").kernel.assign(
            start_kernel(spec, prior, start["source_quality"], meta["params"]["fusion_power"]))
        own_lists = [_list_ndcg(model, own, args.k)]
        lists = len(own_lists[0])
        start_logits = logits(model, week)
        served, best = {0: scored_ndcg(start_logits, args.k)}, max(history, key=_ndcg)["epoch"]
        for h in history[1:]:
            model.load_weights(folder / "checkpoints" / f"epoch-{h['epoch']:02d}.weights.h5")
            own_lists.append(_list_ndcg(model, own, args.k))
            epoch_logits = logits(model, week)
            served[h["epoch"]] = scored_ndcg(epoch_logits, args.k)
            if h["epoch"] == best:
                for a in args.mix:  # the start's weight at a = 0, the epoch's at 1
                    totals.setdefault(f"best point shrunk, a={a:g}", []).append(
                        scored_ndcg(mixed(start_logits, epoch_logits, a), args.k))
        if best == 0:  # no epoch led the start: every mix is the start
            for a in args.mix:
                totals.setdefault(f"best point shrunk, a={a:g}", []).append(served[0])
        print(f"night {night} (start {prior}, kept epoch {meta['best_epoch']}): validation ({lists} lists) / "
              f"the week after ({len(served[0])} lists) NDCG@{args.k}")
        print("  " + ", ".join(f"{h['epoch']}: {h['val_ndcg']:.3f}/{served[h['epoch']].mean():.3f}" for h in history))
        picks = rules(history, args.z, lists) | held_out_rules(np.stack(own_lists), args.z, args.folds) | {
            "kept (stored)": meta["best_epoch"]}
        for name, epoch in picks.items():
            totals.setdefault(name, []).append(served[epoch])
        print("  " + ", ".join(f"{name}: epoch {epoch} {served[epoch].mean():.4f}" for name, epoch in picks.items()))
    print(f"all nights but the last, NDCG@{args.k} on the week after, over "
          f"{sum(len(v) for v in totals['start'])} lists:")
    for name, v in totals.items():
        print(f"  {name:40s} {np.concatenate(v).mean():.4f}")


if __name__ == "__main__":
    main()
