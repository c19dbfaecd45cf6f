"""The training loop: data-parallel with `horovod.spark.run`, one Gloo rank per Spark task.

Each rank reads its own list shards. Every epoch runs the same number of steps on
every rank (the smallest rank's count: uneven steps would hang an allreduce);
gradients are averaged by Horovod. Training runs in two phases: the wide part alone (a
learned fusion: few weights, hard to overfit), then the whole model from the best weights
so far; each has its own optimiser, its learning rate scaled by the number of ranks and
reached by a linear warmup over its first epoch, and its own early stopping. After each
epoch every rank scores its own validation lists and one allreduce gives the mean NDCG@k,
so all ranks see the same number and stop together after `patience` epochs without
improvement. Epoch 0 is the untrained model (the fusion of the recall sources or one
source alone, whichever validates best): training must beat it to be kept; the best
epoch of either phase is. Then, if a trained epoch was kept and the night has `refit_files`
(the validation window's labels as training lists), the model is trained again from the
same start for the same epochs of each phase on the training windows plus that window:
validation chose how long to train, and the served model learns from the newest labels
too (it cannot be validated any more; the selection-time NDCG is what is reported).
Rank 0 alone logs the epoch
lines, writes checkpoints and the model (locally, then to the artifact store). On a GPU
cluster each rank pins the GPU of its local rank.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass

from shoprank.errors import TrainingError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    train_files: tuple[str, ...]  # list shards, as the artifact store lists them
    validation_files: tuple[str, ...]
    refit_files: tuple[str, ...]  # the validation window as training lists; empty: no refit
    model_dir: str  # artifact store location of the model
    epochs: int
    batch_size: int  # lists per step and rank
    learning_rate: float
    patience: int
    loss: str  # listwise | binary
    list_size: int  # training lists' padded size
    validation_list_size: int  # validation lists hold every candidate of the user
    k: int
    seed: int
    spec: dict


def refit_schedule(history: list[dict]) -> list[tuple[str, int]]:
    """(phase, epochs) that lead from the start to the kept epoch: the fusion phase up
    to its best epoch (the full phase starts from it), then the full phase up to the kept
    epoch. Empty when the untrained start was kept."""
    def ndcg(h: dict) -> float:  # NaN (no validation list) never wins, as in the loop
        return h["val_ndcg"] if h["val_ndcg"] == h["val_ndcg"] else -1.0

    best = max(history, key=ndcg)  # the first of equals: a later epoch must beat it
    if best["epoch"] == 0:
        return []
    trained = [h for h in history if h["epoch"] > 0]
    fusion = [h for h in trained if h["phase"] == "fusion"]
    if best["phase"] == "fusion":
        return [("fusion", fusion.index(best) + 1)]
    prior = max([history[0]] + fusion, key=ndcg)
    full = [h for h in trained if h["phase"] == "full"]
    return ([("fusion", fusion.index(prior) + 1)] if prior["epoch"] else []) + [("full", full.index(best) + 1)]


def _validation_ndcg(model, ds, k: int) -> tuple[float, float]:
    """(sum of NDCG@k over this rank's validation lists, their number)."""
    import tensorflow as tf

    from shoprank.ml.model import ndcg_at, score_lists

    total, count = 0.0, 0.0
    for batch in ds:
        logits = score_lists(model, batch)
        has_pos = tf.reduce_sum(batch["label"], axis=1) > 0
        ndcg = tf.boolean_mask(ndcg_at(logits, batch["label"], batch["mask"], k), has_pos)
        total += float(tf.reduce_sum(ndcg))
        count += float(tf.size(ndcg))
    return total, count


def train_on_rank(params: dict) -> dict:
    """The function every Horovod rank runs (on a Spark executor)."""
    import horovod.tensorflow as hvd
    import numpy as np
    import tensorflow as tf

    from shoprank.ml.model import TASKS, ModelSpec, build_ranker, priors, score_lists
    from shoprank.ml.reader import count_lists, dataset
    from shoprank.storage import fs

    p = TrainParams(**params)
    hvd.init()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:  # one GPU per rank, chosen by local rank
        tf.config.experimental.set_memory_growth(gpus[hvd.local_rank()], True)
        tf.config.set_visible_devices(gpus[hvd.local_rank()], "GPU")
    tf.keras.utils.set_random_seed(p.seed + hvd.rank())
    spec = ModelSpec(**{**p.spec, "feature_names": tuple(p.spec["feature_names"]), "mean": tuple(p.spec["mean"]),
                        "std": tuple(p.spec["std"]), "hidden": tuple(p.spec["hidden"])})

    def batches(files: list[str]):
        """(an endless shuffled iterator of training batches, steps per epoch: the smallest
        rank's count, so every rank runs as many steps)."""
        local = -(-count_lists(files) // p.batch_size) if files else 0
        n = int(hvd.allreduce(tf.constant(local, tf.int64), op=hvd.Min).numpy())
        if n < 1:
            raise RuntimeError(f"rank {hvd.rank()}: no training lists in {files}")
        ds = dataset(files, spec.n_features, p.list_size, p.batch_size, shuffle=512, seed=p.seed + hvd.rank())
        return iter(ds.repeat()), n

    train_files = sorted(p.train_files)[hvd.rank()::hvd.size()]
    train, steps = batches(train_files)
    val = dataset(sorted(p.validation_files)[hvd.rank()::hvd.size()], spec.n_features, p.validation_list_size, 16)

    model = build_ranker(spec)
    task = TASKS[p.loss]()
    peak = p.learning_rate * hvd.size()  # Horovod's rule: scale with the workers, after a warmup
    wide = [v for v in model.trainable_variables if v.name.startswith("wide_logit")]
    phases = {"fusion": wide, "full": model.trainable_variables}

    def make_step(variables, opt):
        @tf.function
        def step(batch):
            with tf.GradientTape() as tape:
                logits = score_lists(model, batch)
                loss = task.loss(logits, batch["label"], batch["mask"]) + tf.add_n(model.losses or [0.0])
            tape = hvd.DistributedGradientTape(tape)
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables, strict=True))
            return loss
        return step

    def phase_epochs(phase: str, batches_, n_steps: int):
        """Yield (epoch number in the phase, mean loss) as one phase trains the current weights
        with a fresh optimiser whose learning rate warms up over the first epoch."""
        opt = tf.keras.optimizers.Adam(p.learning_rate)
        step = make_step(phases[phase], opt)
        for n in range(1, p.epochs + 1):
            losses = []
            for i in range(n_steps):
                if n == 1:
                    opt.learning_rate.assign(p.learning_rate + (peak - p.learning_rate) * i / n_steps)
                losses.append(float(step(next(batches_))))
                if n == 1 and i == 0:  # the optimiser's slots exist after the first step
                    hvd.broadcast_variables(opt.variables(), root_rank=0)
            opt.learning_rate.assign(peak)
            yield n, float(hvd.allreduce(tf.constant(np.mean(losses), tf.float64), op=hvd.Average).numpy())

    def validate() -> float:
        total, count = _validation_ndcg(model, val, p.k)
        sums = hvd.allreduce(tf.constant([total, count], tf.float64), op=hvd.Sum).numpy()
        return float(sums[0] / sums[1]) if sums[1] else float("nan")

    scratch = fs.scratch_dir("train") if hvd.rank() == 0 else None
    hvd.broadcast_variables(model.variables, root_rank=0)  # every rank starts from rank 0's weights
    # Epoch 0 is the best untrained prior on validation (the fusion of the sources, or one
    # source alone; the same allreduced numbers on every rank): an epoch is kept only if
    # it beats it.
    kernel, starts, tried = model.get_layer("wide_logit").kernel, priors(spec), {}
    for name, weights in starts.items():
        kernel.assign(weights)
        tried[name] = validate()
    prior = max(tried, key=lambda n: (tried[n], n == "fusion"))
    kernel.assign(starts[prior])
    start_weights = model.get_weights()
    best, best_epoch, best_weights = tried[prior], 0, start_weights
    history = [{"epoch": 0, "phase": "prior", "prior": prior, "loss": None, "val_ndcg": best, "priors": tried}]
    if scratch is not None:
        print(f"[rank 0] epoch 0 (prior {prior}; fusion {tried['fusion']:.4f}) val_ndcg@{p.k}={best:.4f}",
              flush=True)
    start, epoch = time.time(), 0
    # Phase "fusion" fits the wide part alone (one weight per input: a learned fusion of the
    # sources and features that little data can still fit); phase "full" then trains
    # everything from the best weights so far. Each phase stops early on its own.
    for phase in phases:
        model.set_weights(best_weights)
        waited = 0
        for n, loss in phase_epochs(phase, train, steps):
            epoch += 1
            ndcg = validate()
            history.append({"epoch": epoch, "phase": phase, "loss": loss, "val_ndcg": ndcg})
            improved = ndcg > best
            if improved:
                best, best_epoch, best_weights, waited = ndcg, epoch, model.get_weights(), 0
            else:
                waited += 1
            if scratch is not None:
                print(f"[rank 0] epoch {epoch} ({phase} {n}/{p.epochs}) loss={loss:.4f} val_ndcg@{p.k}={ndcg:.4f}"
                      f"{' (best)' if improved else ''}", flush=True)
                name = f"epoch-{epoch:02d}.weights.h5"
                model.save_weights(scratch / name)
                fs.put(scratch / name, fs.join(p.model_dir, "checkpoints", name))
            if waited >= p.patience:  # the same allreduced numbers on every rank: all stop here
                break
    schedule, refit_losses = refit_schedule(history) if p.refit_files else [], []
    if schedule:  # the same start, the same epochs per phase, the newest window's lists too
        files = sorted(p.train_files + p.refit_files)[hvd.rank()::hvd.size()]
        refit, refit_steps = batches(files)
        model.set_weights(start_weights)
        for phase, epochs in schedule:
            for n, loss in phase_epochs(phase, refit, refit_steps):
                refit_losses.append({"phase": phase, "loss": loss})
                if scratch is not None:
                    print(f"[rank 0] refit ({phase} {n}/{epochs}) loss={loss:.4f}", flush=True)
                if n == epochs:
                    break
        best_weights = model.get_weights()
    model.set_weights(best_weights)
    result = {"rank": hvd.rank(), "size": hvd.size(), "steps_per_epoch": steps, "history": history,
              "best_epoch": best_epoch, "best_val_ndcg": best, "refit": refit_losses, "seconds": round(time.time() - start, 1)}
    if scratch is not None:
        local = scratch / "model.keras"
        model.save(local)
        fs.put(local, fs.join(p.model_dir, "model.keras"))
        meta = {**result, "model_sha1": hashlib.sha1(local.read_bytes()).hexdigest(),
                "params": {k: v for k, v in asdict(p).items() if not k.endswith("_files")}}
        # Written last: its presence says the model beside it is complete.
        fs.write_bytes(fs.join(p.model_dir, "training.json"), json.dumps(meta, indent=2).encode())
        fs.remove_scratch(scratch)
    return result


def run_training(spark, params: TrainParams, num_proc: int) -> dict:
    """Launch `num_proc` Horovod ranks as Spark tasks; return rank 0's result."""
    import horovod.spark

    log.info("horovod.spark.run: %d ranks, %d training, %d validation and %d refit shards, up to %d epochs, "
             "%s loss", num_proc, len(params.train_files), len(params.validation_files), len(params.refit_files),
             params.epochs, params.loss)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        results = horovod.spark.run(train_on_rank, args=(asdict(params),), num_proc=num_proc,
                                    env=env, verbose=1)
    except RuntimeError as exc:  # a rank died; its traceback is in the log above
        raise TrainingError(f"horovod training with {num_proc} ranks failed: {exc}") from exc
    rank0 = next(r for r in results if r["rank"] == 0)
    log.info("untrained priors on validation (NDCG@%d): %s", params.k,
             ", ".join(f"{n} {v:.4f}" for n, v in rank0["history"][0]["priors"].items()))
    for h in rank0["history"]:
        loss = "" if h["loss"] is None else f" loss={h['loss']:.4f}"
        phase = f"prior {h['prior']}" if "prior" in h else h["phase"]
        log.info("epoch %d (%s):%s val_ndcg@%d=%.4f", h["epoch"], phase, loss, params.k, h["val_ndcg"])
    log.info("kept epoch %d (val NDCG@%d %.4f)", rank0["best_epoch"], params.k, rank0["best_val_ndcg"])
    if rank0["refit"]:
        log.info("refit from the same start with the validation window's lists: %s",
                 ", ".join(f"{r['phase']} loss={r['loss']:.4f}" for r in rank0["refit"]))
    return rank0
