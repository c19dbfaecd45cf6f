"""Data-parallel training with `horovod.spark.run`: one Gloo rank per Spark task.

Each rank streams its own Parquet shards, gradients are averaged by
`hvd.DistributedOptimizer`, rank 0 alone writes checkpoints, logs and the model.
On a GPU cluster each rank pins the GPU of its local rank.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass

from shoprank.errors import ShopRankError

log = logging.getLogger(__name__)


class TrainingError(ShopRankError):
    exit_code = 8


@dataclass(frozen=True)
class TrainParams:
    train_files: tuple[str, ...]
    model_dir: str
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    spec: dict


def train_on_rank(params: dict) -> dict:
    """The function every Horovod rank runs (on a Spark executor)."""
    import horovod.tensorflow as hvd_tf
    import horovod.tensorflow.keras as hvd
    import tensorflow as tf

    from shoprank.ml.model import ModelSpec, RankingTask, build_ranker
    from shoprank.ml.reader import count_rows, make_dataset

    p = TrainParams(**params)
    hvd.init()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:  # one GPU per rank, chosen by local rank
        tf.config.experimental.set_memory_growth(gpus[hvd.local_rank()], True)
        tf.config.set_visible_devices(gpus[hvd.local_rank()], "GPU")
    tf.keras.utils.set_random_seed(p.seed + hvd.rank())
    files = sorted(p.train_files)[hvd.rank()::hvd.size()]
    # Every rank must run the same number of steps or allreduce hangs: use the minimum.
    local_steps = max(1, count_rows(files) // p.batch_size) if files else 0
    steps = int(hvd.allreduce(tf.constant(local_steps, tf.int64), op=hvd_tf.Min).numpy())
    if steps < 1:
        raise RuntimeError(f"rank {hvd.rank()}: no training rows in {files}")
    dataset = make_dataset(files, p.batch_size, seed=p.seed + hvd.rank()).repeat()

    task = RankingTask()
    model = build_ranker(ModelSpec(**p.spec))
    # Scale the learning rate with the number of workers (Horovod's rule of thumb).
    opt = hvd.DistributedOptimizer(tf.keras.optimizers.Adam(p.learning_rate * hvd.size()))
    model.compile(optimizer=opt, loss=task.loss(), metrics=task.metrics())
    callbacks = [
        hvd.callbacks.BroadcastGlobalVariablesCallback(0),
        hvd.callbacks.MetricAverageCallback(),
    ]
    if hvd.rank() == 0:
        os.makedirs(os.path.join(p.model_dir, "checkpoints"), exist_ok=True)
        callbacks.append(tf.keras.callbacks.ModelCheckpoint(
            os.path.join(p.model_dir, "checkpoints", "epoch-{epoch:02d}.weights.h5"), save_weights_only=True))
        callbacks.append(_epoch_log(p.epochs))
    start = time.time()
    history = model.fit(dataset, epochs=p.epochs, steps_per_epoch=steps, callbacks=callbacks,
                        verbose=0)
    result = {"rank": hvd.rank(), "size": hvd.size(), "steps_per_epoch": steps,
              "history": {k: [float(x) for x in v] for k, v in history.history.items()},
              "seconds": round(time.time() - start, 1)}
    if hvd.rank() == 0:
        model.save(os.path.join(p.model_dir, "model.keras"))
        with open(os.path.join(p.model_dir, "training.json"), "w") as fh:
            json.dump({**result, "params": {k: v for k, v in asdict(p).items() if k != "train_files"}}, fh, indent=2)
    return result


def _epoch_log(epochs: int):
    """Keras callback for rank 0: one line per epoch with loss and AUC."""
    import tensorflow as tf

    class EpochLog(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            print(f"[rank 0] epoch {epoch + 1}/{epochs} loss={logs.get('loss', float('nan')):.4f} "
                  f"auc={logs.get('auc', float('nan')):.4f}", flush=True)

    return EpochLog()


def run_training(spark, params: TrainParams, num_proc: int) -> dict:
    """Launch `num_proc` Horovod ranks as Spark tasks; return rank 0's result."""
    import horovod.spark

    log.info("horovod.spark.run: %d ranks, %d shards, %d epochs", num_proc, len(params.train_files),
             params.epochs)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        results = horovod.spark.run(train_on_rank, args=(asdict(params),), num_proc=num_proc,
                                    env=env, verbose=1)
    except RuntimeError as exc:  # a rank died; its traceback is in the log above
        raise TrainingError(f"horovod training with {num_proc} ranks failed: {exc}") from exc
    rank0 = next(r for r in results if r["rank"] == 0)
    for i, (loss, auc) in enumerate(zip(rank0["history"]["loss"], rank0["history"]["auc"], strict=True)):
        log.info("epoch %d/%d: loss=%.4f auc=%.4f", i + 1, params.epochs, loss, auc)
    return rank0
