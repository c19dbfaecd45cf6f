"""The training loop: data-parallel with `horovod.spark.run`, one Gloo rank per Spark task.

Each rank reads its own list shards. Every epoch runs the same number of steps on
every rank (the smallest rank's count: uneven steps would hang an allreduce);
gradients are averaged by Horovod. Training runs in two phases: the wide part alone (a
learned fusion: few weights, hard to overfit), then the whole model from the best weights
so far; each has its own optimiser, its learning rate scaled by the number of ranks and
reached by a linear warmup over its first epoch, and its own early stopping. After each
epoch every rank scores its own validation lists and one allreduce gives the mean NDCG@k,
so all ranks see the same number and stop together after `patience` epochs without
improvement. Epoch 0 is the untrained model (the plain fusion of the recall sources,
a fusion weighing each source by its NDCG on the training windows, or one source
alone), judged on whole candidate sets (the training windows' "judge" lists and the
validation lists). The start is the weighted fusion (every source has its say;
no choice among sources to get wrong) unless the best start beats it by more than
`min_gain_se` standard errors of the paired per-list gain, corrected for its being the
best of many starts on few lists (`selection_bar`), over every labelled list (with
`prior_lists = "all"`: training windows and validation; an untrained ranking fits nothing,
so more lists only make the choice less of a lottery; the weighted fusion, whose weights
the training windows measure, is judged there cross-fitted, each fifth of their lists
ranked with the weights the rest gave: `cross_fitted`); with "validation", on
validation alone (`choose_start`).
On a few dozen lists the point best of a dozen starts changes from week to week (MovieLens
100k: the argmax start scored 0.154 on the week it served, the anchored rule 0.176). The epoch served
is the one of either phase whose gain over the start's validation NDCG, less
`min_gain_se` standard errors of the per-list gain (paired over the same lists) raised
for being the best of the night's epochs as a rival start's is (`epoch_bar`), is
largest, if that stays above zero, else the start: on a validation window of a few lists
the best of many epochs "wins" by chance, and most the epochs with the widest errors. Then, if a
trained epoch was kept and the night has `refit_files` (`train.refit`, off by default: the
validation window's labels as training lists), the model is trained again from the same start for the same epochs of
each phase on the training windows plus that window: validation chose how long to train,
and the served model learns from the newest labels too (it cannot be validated any more;
the selection-time NDCG is what is reported). Rank 0 alone logs the epoch lines, writes
checkpoints and the model (locally, then to the artifact store). On a GPU cluster each
rank pins the GPU of its local rank.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from shoprank.errors import TrainingError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    train_files: tuple[str, ...]  # list shards, as the artifact store lists them
    judge_files: tuple[str, ...]  # the training windows' whole candidate sets; empty: judge on train_files
    validation_files: tuple[str, ...]
    refit_files: tuple[str, ...]  # the validation window as training lists; empty: no refit
    model_dir: str  # artifact store location of the model
    epochs: int
    batch_size: int  # lists per step and rank
    learning_rate: float
    patience: int
    loss: str  # listwise | binary
    prior_lists: str  # all | validation: the lists the untrained start is chosen on
    min_gain_se: float  # a rival start or a trained epoch must beat the start by this many standard errors
    fusion_power: float  # the weighted fusion weighs each source by its training-list NDCG to this power
    list_size: int  # training lists' padded size
    validation_list_size: int  # validation lists hold every candidate of the user
    k: int
    seed: int
    spec: dict


def _or_worst(ndcg: float) -> float:  # NaN (no validation list) never wins, as in the loop
    return ndcg if ndcg == ndcg else -1.0


def _ndcg(h: dict) -> float:
    return _or_worst(h["val_ndcg"])


def _margin(gain: float, gain_se: float, min_gain_se: float) -> float:
    """A validation gain less `min_gain_se` of its standard errors: the gain that noise on a
    small validation window could hardly have made up (0: the gain itself; inf error: -inf)."""
    return gain - (min_gain_se * gain_se if min_gain_se else 0.0)


def _clears(gain: float, gain_se: float, min_gain_se: float) -> bool:
    """Whether a validation gain exceeds `min_gain_se` standard errors: less is noise a
    small validation window cannot tell from skill (0: any gain, even on one list, inf)."""
    return _margin(gain, gain_se, min_gain_se) > 0


def _epoch_margin(h: dict, start: dict, min_gain_se: float) -> float:
    """Trained epoch `h`'s gain over the untrained start beyond noise (NaN: none)."""
    m = _margin(h["val_ndcg"] - start["val_ndcg"], h["gain_se"], min_gain_se)
    return m if h["epoch"] > 0 and m == m else -math.inf


def kept_epoch(history: list[dict], min_gain_se: float) -> int:
    """The epoch served: the one whose gain over the start is largest once `min_gain_se`
    standard errors are taken off (the first of equals), the start if none stays above
    zero. The largest point gain of many epochs on a few lists is partly luck, and most
    in the epochs whose lists moved most (the widest errors); the lower bound prefers
    the gain that is surest. With `min_gain_se` 0 it is the largest gain."""
    margins = [_epoch_margin(h, history[0], min_gain_se) for h in history]
    best = max(range(len(history)), key=margins.__getitem__)  # max keeps the first of equals
    return best if margins[best] > 0 else 0


def epoch_bar(history: list[dict], min_gain_se: float, lists: int) -> float:
    """The bar for a trained epoch to replace the start (`kept_epoch`): `min_gain_se` raised
    for being the best of the night's trained epochs on `lists` validation lists
    (`selection_bar`, as for a rival start). Each epoch is one more draw against the same
    few lists: the epochs that led a validation window by one error led the week after
    less often than the start did (MovieLens 100k, bench/replay_epochs.py)."""
    return selection_bar(min_gain_se, max(trained_epochs(history), 1), lists)


def trained_epochs(history: list[dict]) -> int:
    """How many trained epochs have a validation NDCG (the draws `epoch_bar` allows for)."""
    return sum(1 for h in history if h["epoch"] > 0 and h["val_ndcg"] == h["val_ndcg"])


def refit_schedule(history: list[dict], kept: int) -> list[tuple[str, int]]:
    """(phase, epochs) that lead from the start to the kept epoch: the fusion phase up
    to its best epoch (the full phase starts from it), then the full phase up to the kept
    epoch. Empty when the untrained start was kept."""
    if kept == 0:
        return []
    best, ndcg = history[kept], _ndcg
    trained = [h for h in history if h["epoch"] > 0]
    fusion = [h for h in trained if h["phase"] == "fusion"]
    if best["phase"] == "fusion":
        return [("fusion", fusion.index(best) + 1)]
    prior = max([history[0]] + fusion, key=ndcg)
    full = [h for h in trained if h["phase"] == "full"]
    return ([("fusion", fusion.index(prior) + 1)] if prior["epoch"] else []) + [("full", full.index(best) + 1)]


def pick_prior(ndcg: dict[str, float]) -> str:
    """The untrained start with the best NDCG (NaN, no list: never); the fusion on a tie."""
    return max(ndcg, key=lambda n: (_or_worst(ndcg[n]), n == "fusion"))


def selection_bar(min_gain_se: float, rivals: int, lists: int) -> float:
    """The gain, in standard errors, that the best of `rivals` starts on `lists` validation
    lists must clear to be as unlikely by chance as one comparison at `min_gain_se`: the
    normal tail beyond `min_gain_se` shared among the rivals (Bonferroni), as a quantile
    of Student's t with lists - 1 degrees of freedom, as the standard error of a few
    lists is itself a guess. 0 stays 0 (any gain); fewer than 2 lists: never."""
    from scipy.stats import norm, t

    if not min_gain_se:
        return 0.0
    if lists < 2:
        return math.inf
    return float(t.ppf(1 - norm.sf(min_gain_se) / max(rivals, 1), lists - 1))


def pick_start(on: dict[str, tuple[float, float]], anchor: str, min_gain_se: float, lists: int) -> str:
    """`anchor` unless the best other start beats it beyond noise (`on`: name -> (NDCG,
    standard error of its per-list gain over `anchor`), on the same `lists` lists): the
    best of many starts on few lists wins by chance, so the bar is `selection_bar`."""
    rival = pick_prior({n: v[0] for n, v in on.items()})
    bar = selection_bar(min_gain_se, len(on) - 1, lists)
    return rival if _clears(on[rival][0] - on[anchor][0], on[rival][1], bar) else anchor


# The start unless a rival beats it beyond noise: the fusion weighing each source by its
# quality, which gives every source its say and needs no choice among them.
ANCHOR = "weighted_fusion"


def choose_start(labelled: dict[str, np.ndarray], paired: Callable[[np.ndarray, np.ndarray], tuple[float, float]],
                 count: Callable[[np.ndarray], int], min_gain_se: float) -> str:
    """The untrained start: `ANCHOR` unless another start beats it beyond noise on the
    labelled lists (`pick_start`). `labelled`: each start's per-list NDCG, in list order;
    `paired(v, base)`: (NDCG of `v`, standard error of its per-list gain over `base`) and
    `count(v)`: how many lists, both over every rank's lists. Neither which fusion
    anchors nor an override by the validation window's own best is chosen on the lists
    any more: replayed on ten stored backtests (`bench/replay_starts.py`), each night's
    start scored on the next night's validation lists (the week it served), this rule
    ranked those weeks at least as well as those rules on all ten (better on seven). The
    weighted fusion's cross-fitted figure, from noisier weights than the served ones, let
    the plain fusion anchor nights where the weighted one served better (ml-latest-small's twelve nights:
    0.1295 against 0.1487), and the validation window's best on ~30 lists served
    `category_popular` on one ML-100k night (0.154 the week after, the fusion 0.224)."""
    return pick_start({n: paired(v, labelled[ANCHOR]) for n, v in labelled.items()}, ANCHOR, min_gain_se,
                      count(labelled[ANCHOR]))


def cross_fitted(on_lists: dict[str, np.ndarray], mean: Callable[[np.ndarray], float],
                 weigh: Callable[[dict[str, float]], np.ndarray], score: Callable[[np.ndarray], np.ndarray],
                 folds: int = 5) -> np.ndarray:
    """Per-list NDCG of the weighted fusion on the training windows' lists, out of sample
    and in list order (the paired gains against other starts match list by list): each of
    `folds` interleaved folds (every `folds`-th list) ranked with the weights the other
    lists measured. `on_lists`: each source's per-list NDCG alone, in list order; `mean`:
    the mean of a selection (over every rank); `weigh`: {source: quality} -> weights;
    `score`: weights -> per-list NDCG of every list. Judged on the lists its weights came
    from, the weighted fusion would win the pooled pick on its own fit (a few dozen lists
    measure ten sources' quality with much noise, which an in-sample figure counts as
    skill); weights from half the lists, as two folds give, are noisier than the served
    ones from all of them, and the figure counts that against the fusion (ml-latest-small,
    50-60 lists a night: 0.085-0.123 with two folds, 0.092-0.131 with five, 0.116-0.156 in
    sample)."""
    import numpy as np

    n = len(next(iter(on_lists.values()), ()))
    out = np.zeros(n)
    for f in range(folds):
        held = np.zeros(n, dtype=bool)
        held[f::folds] = True
        out[held] = score(weigh({s: mean(v[~held]) for s, v in on_lists.items()}))[held]
    return out


def _list_ndcg(model, ds, k: int):
    """NDCG@k of each of this rank's lists in `ds` that hold a positive, in order."""
    from shoprank.ml.model import score_lists

    return scored_ndcg(((score_lists(model, b), b["label"], b["mask"]) for b in ds), k)


def scored_ndcg(scored, k: int):
    """NDCG@k of each list that holds a positive, from (logits, labels, mask) batches."""
    import numpy as np
    import tensorflow as tf

    from shoprank.ml.model import ndcg_at

    out = [np.zeros(0)]
    for logits, label, mask in scored:
        has_pos = tf.reduce_sum(label, axis=1) > 0
        out.append(tf.boolean_mask(ndcg_at(tf.convert_to_tensor(logits), tf.convert_to_tensor(label),
                                           tf.convert_to_tensor(mask), k), has_pos).numpy())
    return np.concatenate(out).astype(np.float64)


def rank_gpu(visible: int, local_rank: int, assigned: list[str], use_local_rank: bool) -> int:
    """The index of the GPU a rank trains on among the `visible` ones. With Spark's GPU-aware
    scheduling (`spark.task.resource.gpu.amount`) the task was `assigned` a GPU address and
    two ranks on one executor must not share one, so that address, as Horovod's own
    estimators pin; else (or with HOROVOD_SPARK_USE_LOCAL_RANK_GPU_INDEX=1) the local rank.
    Past the visible GPUs (an executor seeing fewer GPUs than its ranks) it says so."""
    index = local_rank if use_local_rank or not assigned else int(assigned[0])
    if not 0 <= index < visible:
        source = "local rank" if use_local_rank or not assigned else f"Spark's GPU address {assigned[0]}"
        raise TrainingError(f"a rank expected a GPU at index {index} ({source}); found {visible} visible: give each "
                            "executor as many GPUs as ranks (spark.executor.resource.gpu.amount) or set "
                            "spark.task.resource.gpu.amount so Spark assigns them")
    return index


def train_on_rank(params: dict) -> dict:
    """The function every Horovod rank runs (on a Spark executor)."""
    import horovod.tensorflow as hvd
    import numpy as np
    import tensorflow as tf

    from shoprank.ml.model import (
        TASKS,
        build_ranker,
        priors,
        score_lists,
        weighted_prior,
    )
    from shoprank.ml.reader import count_lists, dataset
    from shoprank.storage import fs

    p = TrainParams(**params)
    hvd.init()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:  # one GPU per rank: the one Spark gave its task, else that of its local rank
        from horovod.spark.task import get_available_devices

        gpu = gpus[rank_gpu(len(gpus), hvd.local_rank(), get_available_devices(),
                            os.environ.get("HOROVOD_SPARK_USE_LOCAL_RANK_GPU_INDEX", "0") != "0")]
        tf.config.experimental.set_memory_growth(gpu, True)
        tf.config.set_visible_devices(gpu, "GPU")
    tf.keras.utils.set_random_seed(p.seed + hvd.rank())
    spec = model_spec(p.spec)

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
        """Yield (epoch number in the phase, mean loss, seconds its steps took) as one phase
        trains the current weights with a fresh optimiser whose learning rate warms up over
        the first epoch."""
        opt = tf.keras.optimizers.Adam(p.learning_rate)
        step = make_step(phases[phase], opt)
        for n in range(1, p.epochs + 1):
            losses, began = [], time.perf_counter()
            for i in range(n_steps):
                if n == 1:
                    opt.learning_rate.assign(p.learning_rate + (peak - p.learning_rate) * i / n_steps)
                losses.append(float(step(next(batches_))))
                if n == 1 and i == 0:  # the optimiser's slots exist after the first step
                    hvd.broadcast_variables(opt.variables(), root_rank=0)
            opt.learning_rate.assign(peak)
            seconds = time.perf_counter() - began
            yield n, float(hvd.allreduce(tf.constant(np.mean(losses), tf.float64), op=hvd.Average).numpy()), seconds

    def pooled(*lists) -> tuple[float, int]:
        """(NDCG@k over every rank's lists, from each rank's per-list NDCG arrays; their number)."""
        v = np.concatenate(lists)
        sums = hvd.allreduce(tf.constant([v.sum(), len(v)], tf.float64), op=hvd.Sum).numpy()
        return (float(sums[0] / sums[1]) if sums[1] else float("nan")), int(sums[1])

    def paired(v, base) -> tuple[float, float]:
        """(NDCG@k over every rank's validation lists, standard error of the per-list gain
        over `base`): `v` and `base` are this rank's per-list NDCG, in the same order."""
        d = v - base
        s = hvd.allreduce(tf.constant([v.sum(), len(v), d.sum(), (d * d).sum()], tf.float64), op=hvd.Sum).numpy()
        n = s[1]
        if not n:
            return float("nan"), float("nan")
        var = max(s[3] / n - (s[2] / n) ** 2, 0.0) * n / (n - 1) if n > 1 else float("inf")
        return float(s[0] / n), float(np.sqrt(var / n))

    scratch = fs.scratch_dir("train") if hvd.rank() == 0 else None
    hvd.broadcast_variables(model.variables, root_rank=0)  # every rank starts from rank 0's weights
    # Epoch 0 is the best untrained prior (a fusion of the sources, or one source alone;
    # the same allreduced numbers on every rank), chosen on `prior_lists` with the validation
    # window's own pick overriding beyond noise: an epoch is kept only if it beats it.
    # The weighted fusion weighs each source by its NDCG on the training windows alone, so
    # its validation figures stay out of sample: on their whole candidate sets (the
    # served ranking) when the examples stage wrote them, else on the sampled lists.
    judged, padded = ((sorted(p.judge_files)[hvd.rank()::hvd.size()], p.validation_list_size) if p.judge_files
                      else (train_files, p.list_size))
    window_lists = dataset(judged, spec.n_features, padded, 16)
    kernel, starts, on_train, on_val = model.get_layer("wide_logit").kernel, priors(spec), {}, {}

    def judge(name: str) -> None:
        kernel.assign(starts[name])
        on_val[name], on_train[name] = _list_ndcg(model, val, p.k), _list_ndcg(model, window_lists, p.k)

    for name in list(starts):
        judge(name)
    quality = {name[len("source:"):]: pooled(on_train[name])[0] for name in starts if name.startswith("source:")}
    starts["weighted_fusion"] = weighted_prior(spec, quality, p.fusion_power)
    judge("weighted_fusion")
    if p.prior_lists == "all":  # its training-window figure out of sample, as every other start's is

        def score(weights):
            kernel.assign(weights)
            return _list_ndcg(model, window_lists, p.k)

        on_train["weighted_fusion"] = cross_fitted(
            {s: on_train[f"source:{s}"] for s in quality}, lambda v: pooled(v)[0],
            lambda q: weighted_prior(spec, q, p.fusion_power), score)
    labelled = {n: np.concatenate([on_val[n]] + ([on_train[n]] if p.prior_lists == "all" else [])) for n in starts}
    tried = {n: pooled(v)[0] for n, v in labelled.items()}
    judged_lists = pooled(labelled[ANCHOR])[1]
    prior = choose_start(labelled, paired, lambda v: pooled(v)[1], p.min_gain_se)
    validated = {name: paired(v, on_val[prior]) for name, v in on_val.items()}  # the same order on every rank
    val_lists = pooled(on_val[prior])[1]  # every start is scored on the same validation lists
    kernel.assign(starts[prior])
    start_weights, start_lists, best = model.get_weights(), on_val[prior], validated[prior][0]
    best_epoch, best_weights = 0, start_weights
    history = [{"epoch": 0, "phase": "prior", "prior": prior, "loss": None, "val_ndcg": best, "gain_se": 0.0,
                "priors": tried, "prior_lists": judged_lists, "source_quality": quality,
                "priors_validation": {n: v[0] for n, v in validated.items()}}]
    if scratch is not None:
        print(f"[rank 0] epoch 0 (prior {prior}, NDCG {tried[prior]:.4f} on {judged_lists} lists; fusion "
              f"{tried['fusion']:.4f}) val_ndcg@{p.k}={best:.4f}", flush=True)
    start, epoch = time.time(), 0
    # Phase "fusion" fits the wide part alone (one weight per input: a learned fusion of the
    # sources and features that little data can still fit); phase "full" then trains
    # everything from the best weights so far. Each phase stops early on its own.
    for phase in phases:
        model.set_weights(best_weights)
        waited = 0
        for n, loss, seconds in phase_epochs(phase, train, steps):
            epoch += 1
            ndcg, gain_se = paired(_list_ndcg(model, val, p.k), start_lists)
            history.append({"epoch": epoch, "phase": phase, "loss": loss, "val_ndcg": ndcg, "gain_se": gain_se,
                            "train_seconds": round(seconds, 3)})
            improved = ndcg > best  # early stopping follows the best epoch, noise or not
            if improved:
                best, best_epoch, best_weights, waited = ndcg, epoch, model.get_weights(), 0
            else:
                waited += 1
            if scratch is not None:
                print(f"[rank 0] epoch {epoch} ({phase} {n}/{p.epochs}) loss={loss:.4f} val_ndcg@{p.k}={ndcg:.4f} "
                      f"(gain over the start {ndcg - history[0]['val_ndcg']:+.4f} ± {gain_se:.4f})"
                      f"{' (best)' if improved else ''}; {steps} steps in {seconds:.1f}s", flush=True)
                name = f"epoch-{epoch:02d}.weights.h5"
                model.save_weights(scratch / name)
                fs.put(scratch / name, fs.join(p.model_dir, "checkpoints", name))
            if waited >= p.patience:  # the same allreduced numbers on every rank: all stop here
                break
    # The bar depends on how many epochs were tried, known only now: the kept epoch's
    # weights come back from rank 0's checkpoint (rank 0 alone writes the model).
    bar = epoch_bar(history, p.min_gain_se, val_lists)
    kept = kept_epoch(history, bar)
    if kept != best_epoch and scratch is not None:
        print(f"[rank 0] epoch {best_epoch} has the best validation NDCG, but "
              f"{f'epoch {kept} has the largest gain' if kept else 'no epoch has a gain'} over the start "
              f"beyond {bar:.2f} standard errors (for the best of {trained_epochs(history)} epochs): "
              f"{f'epoch {kept}' if kept else 'the start'} is kept", flush=True)
    if kept != best_epoch:
        best_weights = start_weights
        if kept and scratch is not None:
            model.load_weights(scratch / f"epoch-{kept:02d}.weights.h5")
            best_weights = model.get_weights()
    best, best_epoch = history[kept]["val_ndcg"], kept
    schedule, refit_losses = refit_schedule(history, best_epoch) if p.refit_files else [], []
    if schedule:  # the same start, the same epochs per phase, the newest window's lists too
        files = sorted(p.train_files + p.refit_files)[hvd.rank()::hvd.size()]
        refit, refit_steps = batches(files)
        model.set_weights(start_weights)
        for phase, epochs in schedule:
            for n, loss, _ in phase_epochs(phase, refit, refit_steps):
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
        publish_model(model, p, result, scratch)
    return result


def weights_digest(model) -> str:
    """SHA-1 of the model's weights (shapes and values, in order). The saved file's own
    digest would change with every save (it records the time it was saved), so a re-run
    night would publish the same lists under another model version."""
    h = hashlib.sha1()
    for w in model.get_weights():
        h.update(str(w.shape).encode())
        h.update(w.tobytes())
    return h.hexdigest()


def publish_model(model, p: TrainParams, result: dict, scratch) -> None:
    """Write the served model and then `training.json` (the result, the digest of the
    model's weights, the parameters) to `p.model_dir`, through the local folder
    `scratch`, then remove it."""
    from shoprank.storage import fs

    local = scratch / "model.keras"
    model.save(local)
    fs.put(local, fs.join(p.model_dir, "model.keras"))
    meta = {**result, "model_sha1": weights_digest(model),
            "params": {k: v for k, v in asdict(p).items() if not k.endswith("_files")}}
    # Written last: its presence says the model beside it is complete.
    fs.write_bytes(fs.join(p.model_dir, "training.json"), json.dumps(meta, indent=2).encode())
    fs.remove_scratch(scratch)


def model_spec(spec: dict):
    """The `ModelSpec` of a parameter dict (as JSON holds it: lists for tuples)."""
    from shoprank.ml.model import ModelSpec

    return ModelSpec(**{**spec, "feature_names": tuple(spec["feature_names"]), "mean": tuple(spec["mean"]),
                        "std": tuple(spec["std"]), "hidden": tuple(spec["hidden"])})


def publish_untrained(p: TrainParams, reason: str) -> dict:
    """The plain fusion of the recall sources, published as the night's model without
    training: for a night with no labelled list to learn from or to choose a start on (a
    shop's first days, a label window nobody returned in). The ranker's files as training
    writes them, so scoring and evaluation need nothing else; the fusion is every
    night's first start, and what small nights mostly serve anyway."""
    import tensorflow as tf

    from shoprank.ml.model import build_ranker
    from shoprank.storage import fs

    tf.keras.utils.set_random_seed(p.seed)  # the same weights, so the same model version, on a re-run
    model = build_ranker(model_spec(p.spec))  # the deep part starts at zero: the fusion alone
    nan = float("nan")
    history = [{"epoch": 0, "phase": "prior", "prior": "fusion", "loss": None, "val_ndcg": nan, "gain_se": 0.0,
                "priors": {}, "prior_lists": 0, "source_quality": {}, "priors_validation": {}}]
    result = {"rank": 0, "size": 0, "steps_per_epoch": 0, "history": history, "best_epoch": 0,
              "best_val_ndcg": nan, "refit": [], "seconds": 0.0, "untrained": reason}
    publish_model(model, p, result, fs.scratch_dir("train"))
    log.warning("published the untrained fusion of the recall sources: %s", reason)
    return result


@dataclass(frozen=True)
class Waits:
    """How long Horovod may wait, in seconds (`train.*_timeout_s`)."""

    start: int  # for every rank to have started
    gloo: int  # in a Gloo operation, for a rank that stopped answering
    run: int  # for a rank's whole function: a rank stuck outside Gloo (I/O, a lost peer mid-collective) ends


# A rank past its run deadline exits with this code (EX_TEMPFAIL): Horovod then ends the others.
DEADLINE_EXIT = 75


def _with_deadline(fn, seconds: int):
    """`fn` as a rank runs it, ended by `os._exit` after `seconds`. Horovod's stall check
    would end a rank left waiting in a collective, but in this build it never fires (a rank
    that sleeps before an allreduce held its peer there for 10 minutes with
    HOROVOD_STALL_SHUTDOWN_TIME_SECONDS=20), and Gloo's timeout covers only a peer that
    stopped answering: a rank alive but stuck holds the night forever without this."""

    def run(*args):
        import os
        import sys
        import threading

        def expire() -> None:
            sys.stderr.write(f"shoprank: this rank ran past train.run_timeout_s = {seconds} s; ending it\n")
            sys.stderr.flush()
            os._exit(DEADLINE_EXIT)

        timer = threading.Timer(seconds, expire)
        timer.daemon = True
        timer.start()
        try:
            return fn(*args)
        finally:
            timer.cancel()

    return run


def horovod_run(spark, fn, args: tuple, num_proc: int, waits: Waits) -> list:
    """`horovod.spark.run(fn, args)` on `num_proc` Spark tasks, with its waits bounded and
    its failures typed: the ranks must all start within `waits.start` (Spark must grant
    `num_proc` task slots at once: a cluster with fewer never trains, it would wait), a
    Gloo operation waits at most `waits.gloo` for a rank that stopped answering (a frozen
    or unreachable host), and each rank ends after `waits.run`, stuck or not."""
    import horovod.spark
    from horovod.runner.common.util.timeout import TimeoutException

    slots = spark.sparkContext.defaultParallelism
    if num_proc > slots:
        log.warning("train.num_proc = %d ranks, but Spark offers %d task slots now (spark.default.parallelism): "
                    "training waits up to %d s for more executors", num_proc, slots, waits.start)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HOROVOD_GLOO_TIMEOUT_SECONDS": str(waits.gloo)}
    began = time.monotonic()
    try:
        return horovod.spark.run(_with_deadline(fn, waits.run), args=args, num_proc=num_proc,
                                 start_timeout=waits.start, env=env, verbose=1)
    except TimeoutException as exc:
        raise TrainingError(f"horovod training expected {num_proc} ranks to start within {waits.start} s "
                            f"(train.start_timeout_s); found {slots} Spark task slots (spark.default.parallelism): "
                            f"lower train.num_proc or give the job more executor cores ({exc.message})") from exc
    except Exception as exc:  # a rank died (its traceback is in the log above) or Spark's job failed
        seconds = time.monotonic() - began
        if seconds >= waits.run:
            raise TrainingError(f"horovod training with {num_proc} ranks expected to end within {waits.run} s "
                                f"(train.run_timeout_s); found a rank still running after {seconds:.0f} s: "
                                "a rank stuck (see the log above) or a night that needs a longer limit") from exc
        raise TrainingError(f"horovod training with {num_proc} ranks failed after {seconds:.0f} s: {exc}") from exc


def run_training(spark, params: TrainParams, num_proc: int, waits: Waits) -> dict:
    """Launch `num_proc` Horovod ranks as Spark tasks; return rank 0's result."""
    log.info("horovod.spark.run: %d ranks, %d training, %d validation and %d refit shards, up to %d epochs, "
             "%s loss", num_proc, len(params.train_files), len(params.validation_files), len(params.refit_files),
             params.epochs, params.loss)
    results = horovod_run(spark, train_on_rank, (asdict(params),), num_proc, waits)
    rank0 = next(r for r in results if r["rank"] == 0)
    start = rank0["history"][0]
    log.info("untrained priors on %d %s lists (NDCG@%d): %s; on validation alone: %s; start: %s",
             start["prior_lists"], "labelled" if params.prior_lists == "all" else "validation", params.k,
             ", ".join(f"{n} {v:.4f}" for n, v in start["priors"].items()),
             ", ".join(f"{n} {v:.4f}" for n, v in start["priors_validation"].items()), start["prior"])
    for h in rank0["history"]:
        loss = "" if h["loss"] is None else f" loss={h['loss']:.4f}"
        phase = f"prior {h['prior']}" if "prior" in h else h["phase"]
        log.info("epoch %d (%s):%s val_ndcg@%d=%.4f", h["epoch"], phase, loss, params.k, h["val_ndcg"])
    log.info("kept epoch %d (val NDCG@%d %.4f)", rank0["best_epoch"], params.k, rank0["best_val_ndcg"])
    if rank0["refit"]:
        log.info("refit from the same start with the validation window's lists: %s",
                 ", ".join(f"{r['phase']} loss={r['loss']:.4f}" for r in rank0["refit"]))
    return rank0
