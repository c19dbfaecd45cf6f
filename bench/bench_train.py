"""make bench-train: the `train` stage of one night on the generated shop, with 1 and then
2 Horovod ranks (Spark tasks), a fixed number of epochs each (early stopping off). Runs the
stages before it for the run date first (idempotent). Per rank count: the stage's wall
time, the part of it in the epochs (rank 0's clock), and the training throughput
over the trained epochs but each phase's first, which traces its step function (lists per
second, all ranks together, the steps alone: validation and the untrained starts'
judging excluded). The last line is
`train_lists_per_s_1=<x> train_lists_per_s_2=<y> scaling_2_over_1=<y/x>`.

    python bench/bench_train.py --conf conf/local.toml --run-date 2026-11-21 [--epochs 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from nights import open_night

from shoprank import stages
from shoprank.night import Night


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4, help="epochs per phase, all run (patience = epochs)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    a, night = open_night(ap, ("ingest", "gate", "embeddings", "features", "examples"))
    figures = {}
    for ranks in a.ranks:
        train = dataclasses.replace(night.cfg.train, num_proc=ranks, epochs=a.epochs, patience=a.epochs)
        run = Night.open(night.spark, dataclasses.replace(night.cfg, train=train), night.run_date, force=True)
        began = time.perf_counter()
        result = stages.runner("train")(run)
        wall = time.perf_counter() - began
        epochs = [h for h in result["history"] if "train_seconds" in h]
        # A phase's first epoch traces its step function: throughput is read on the rest.
        trained = [h for i, h in enumerate(epochs) if i and h["phase"] == epochs[i - 1]["phase"]]
        lists = len(trained) * result["steps_per_epoch"] * train.batch_size * ranks
        seconds = sum(h["train_seconds"] for h in trained)
        figures[ranks] = lists / seconds
        print(f"{ranks} rank(s): stage {wall:.1f} s, of which the epochs (steps and validation) "
              f"{result['seconds']:.1f} s and the rest (launch, TensorFlow start-up, judging the untrained starts, "
              f"publishing) {wall - result['seconds']:.1f} s; {len(trained)} epochs x {result['steps_per_epoch']} steps x "
              f"{train.batch_size} lists x {ranks} rank(s) in {seconds:.1f} s of steps: "
              f"{figures[ranks]:.0f} lists/s", flush=True)
    night.spark.stop()
    line = " ".join(f"train_lists_per_s_{r}={v:.0f}" for r, v in figures.items())
    if 1 in figures and 2 in figures:
        line += f" scaling_2_over_1={figures[2] / figures[1]:.2f}"
    print(line)


if __name__ == "__main__":
    main()
