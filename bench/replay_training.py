"""Train a variant of the ranker on one stored backtest night's lists, in one process.

The night's own `training.json` gives the parameters; `--set name=json` changes one
(`spec.<field>` for the model spec, e.g. `spec.item_buckets=1`, `learning_rate=0.0005`,
`list_size=500` with `--train-part judge` to train on whole candidate sets). The loop is
the product's (`train_on_rank`) as a single Horovod rank (no launcher: size 1), without
refit. The starts are not judged again: the plain fusion and the weighted fusion with the
source quality the night measured (judging every source again costs minutes on large
nights), so the start is chosen on the validation lists (`prior_lists = "validation"`):
the weighted fusion's cross-fitted figure on the training windows needs every source's. Prints the validation NDCG@k of the start, of the best epoch and of the kept one:
every variant is validated on the same whole-set lists. With `--earlier-weeks`, the
training lists also hold every earlier label window the backtest stored (earlier nights'
training windows, each window once, the newest night's copy): does more history help
the trained epochs?

    PYTHONPATH=lib python bench/replay_training.py /tmp/scale/artifacts/_backtest \
        --night 2026-11-19 --out /tmp/rt/v1 --set spec.item_buckets=1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def earlier_windows(backtest: Path, night: str, part: str, label_days: int) -> tuple[str, ...]:
    """The `part` lists of every label window before `night`'s validation window that the
    backtest stored, keyed by the window's end: each once, from the newest night holding it."""
    import datetime as dt

    by_end: dict[dt.date, list[str]] = {}
    for n in sorted(p.name for p in (backtest / "examples").iterdir() if p.name <= night):
        for window in sorted((backtest / "examples" / n / part).glob("window=*")):
            w = int(window.name.split("=")[1])
            end = dt.date.fromisoformat(n) - dt.timedelta(days=label_days * w)
            by_end[end] = sorted(str(f) for f in window.rglob("*.parquet"))  # later nights overwrite
    return tuple(f for end in sorted(by_end) for f in by_end[end])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("backtest", type=Path, help="<artifacts>/_backtest of a finished backtest")
    ap.add_argument("--night", required=True)
    ap.add_argument("--out", required=True, help="where the variant's model and checkpoints go")
    ap.add_argument("--set", nargs="*", default=[], metavar="NAME=JSON")
    ap.add_argument("--train-part", choices=("train", "judge"), default="train",
                    help="train on the sampled training lists or on the whole candidate sets")
    ap.add_argument("--earlier-weeks", action="store_true",
                    help="also train on every earlier label window stored by earlier nights")
    ap.add_argument("--label-days", type=int, default=None,
                    help="the backtest's label window in days (default: as its feature_stats.json records it)")
    args = ap.parse_args()

    import shoprank.ml.model as model
    from shoprank.ml.train import TrainParams, train_on_rank

    meta = json.loads((args.backtest / "models" / args.night / "training.json").read_text())
    quality, weighted = meta["history"][0]["source_quality"], model.weighted_prior
    model.priors = lambda spec: {"fusion": model._prior(spec)}
    model.weighted_prior = lambda spec, _quality, power: weighted(spec, quality, power)

    folder = args.backtest / "examples" / args.night
    files = {s: tuple(sorted(str(f) for f in (folder / s).rglob("*.parquet"))) for s in ("train", "judge", "validation")}
    if args.earlier_weeks:
        recorded = json.loads((folder / "feature_stats.json").read_text()).get("label_days")
        label_days = args.label_days or recorded
        if not label_days:
            ap.error("this backtest's feature_stats.json does not record its label window: pass --label-days")
        files[args.train_part] = earlier_windows(args.backtest, args.night, args.train_part, label_days)
    params = {**meta["params"], "train_files": files[args.train_part], "judge_files": files["judge"],
              "validation_files": files["validation"], "refit_files": (), "model_dir": args.out,
              "prior_lists": "validation"}
    for assignment in args.set:
        name, value = assignment.split("=", 1)
        if name.startswith("spec."):
            params["spec"] = {**params["spec"], name[len("spec."):]: json.loads(value)}
        else:
            params[name] = json.loads(value)
    start = time.time()
    result = train_on_rank(asdict(TrainParams(**params)))
    history = result["history"]
    best = max(history, key=lambda h: h["val_ndcg"])
    print(f"variant {' '.join(args.set) or 'as the night ran'} (training lists: {args.train_part}{', earlier weeks too' if args.earlier_weeks else ''}): validation "
          f"NDCG@{params['k']} start {history[0]['val_ndcg']:.4f}, best epoch {best['epoch']} ({best['phase']}) "
          f"{best['val_ndcg']:.4f}, kept epoch {result['best_epoch']} {result['best_val_ndcg']:.4f}; "
          f"{len(params['train_files'])} training shards; "
          f"{time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
