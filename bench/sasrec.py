"""Does a sequence model trained on every user's whole history beat the chart and EASE?
SASRec (Kang and McAuley, ICDM 2018) with the full-softmax cross-entropy loss that
Klenitskiy and Vasilev (RecSys 2023) found lifts it past BERT4Rec, scored as the backtest
scores a night (NDCG@10 of the items a user the shop knew touched first in the
`--step-days` after the night, seen items excluded), beside the 30-day chart and EASE
with a user's latest items weighing 1 / (1 + r / 20), as the `ease` source scores.

The ranker shoprank ships learns from a few dozen labelled candidate lists a week on the
movie sets; this model learns from every next item of every user (about 100,000 on
either set). Epochs are chosen per night without looking past it: each user's last item
before the night is held out of training, which stops when that item's NDCG@10 has not
risen for `--patience` evaluations; the best weights are kept, and a user is scored from
their whole sequence, the held-out item included. TensorFlow on the whole log; a bench,
not the product.

    PYTHONPATH=lib python bench/sasrec.py eval-out/data/ml-100k/ml-100k.inter --run-date 1998-04-15
    PYTHONPATH=lib python bench/sasrec.py ../shared/data/ml-latest-small/ratings.csv --sep , \
        --run-date 2018-08-25 --nights 12 --step-days 30
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import tensorflow as tf
from blend_bound import arguments, ndcg, read_log, versus_best

from shoprank.baselines import ease

log_ = logging.getLogger("sasrec")


def model(n: int, length: int, dim: int, blocks: int, dropout: float) -> tf.keras.Model:
    """Causal self-attention over a left-padded item sequence (0 pads); logits over items
    1..n at every position from the shared item embedding."""
    items = tf.keras.Input((length,), dtype="int32")
    emb = tf.keras.layers.Embedding(n + 1, dim)
    x = emb(items) * dim**0.5 + tf.keras.layers.Embedding(length, dim)(tf.range(length))
    x = tf.keras.layers.Dropout(dropout)(x)
    real = tf.cast(items > 0, "float32")
    x = x * real[..., None]
    for _ in range(blocks):
        h = tf.keras.layers.LayerNormalization(epsilon=1e-8)(x)
        a = tf.keras.layers.MultiHeadAttention(1, dim, dropout=dropout)(
            h, h, attention_mask=tf.cast(real[:, None, :], "bool"), use_causal_mask=True)
        x = x + tf.keras.layers.Dropout(dropout)(a)
        h = tf.keras.layers.LayerNormalization(epsilon=1e-8)(x)
        f = tf.keras.layers.Dense(dim)(tf.keras.layers.Dropout(dropout)(tf.keras.layers.Dense(dim, "relu")(h)))
        x = (x + tf.keras.layers.Dropout(dropout)(f)) * real[..., None]
    x = tf.keras.layers.LayerNormalization(epsilon=1e-8)(x)
    return tf.keras.Model(items, tf.matmul(x, emb.embeddings, transpose_b=True))


def padded(seqs: list[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(seqs), length), np.int32)
    for r, s in enumerate(seqs):
        s = s[-length:]
        if len(s):
            out[r, -len(s):] = s
    return out


def loss(target, logits):
    real = tf.cast(target > 0, "float32")
    ce = tf.keras.losses.sparse_categorical_crossentropy(target, logits, from_logits=True)
    return tf.reduce_sum(ce * real) / tf.maximum(tf.reduce_sum(real), 1.0)


def last_logits(m: tf.keras.Model, x: np.ndarray) -> np.ndarray:
    return m.predict(x, batch_size=256, verbose=0)[:, -1, :]


def fit(seqs: list[np.ndarray], n: int, a) -> tuple[tf.keras.Model, int]:
    """Train on each sequence's next items but its last, which picks the epoch (early
    stopping); the best epoch's weights are kept."""
    tf.keras.utils.set_random_seed(a.seed)
    m = model(n, a.length, a.dim, a.blocks, a.dropout)
    m.compile(tf.keras.optimizers.Adam(a.lr), loss)
    held = [s for s in seqs if len(s) > 2]
    val_x, val_y = padded([s[:-1] for s in held], a.length), [s[-1] for s in held]
    seen = [set(s[:-1]) for s in held]
    x, y = padded([s[:-2] for s in held], a.length), padded([s[1:-1] for s in held], a.length)
    best, best_epoch, since, kept = -1.0, 0, 0, None
    for e in range(1, a.max_epochs + 1):
        m.fit(x, y, batch_size=a.batch, epochs=1, shuffle=True, verbose=0)
        if e % a.every:
            continue
        sc = last_logits(m, val_x)
        sc[:, 0] = -np.inf
        got = []
        for r, (v, known) in enumerate(zip(val_y, seen, strict=True)):
            sc[r, list(known)] = -np.inf
            got.append(ndcg(list(np.argsort(-sc[r])[:10]), {v}))
        score = float(np.mean(got))
        log_.info("epoch %d held-out NDCG@10 %.4f", e, score)
        if score > best:
            best, best_epoch, since, kept = score, e, 0, m.get_weights()
        else:
            since += 1
            if since >= a.patience:
                break
    m.set_weights(kept)
    return m, best_epoch


def night(log: pd.DataFrame, t: pd.Timestamp, horizon: pd.Timedelta, a) -> list[dict]:
    past, nxt = log[log.t < t], log[(log.t >= t) & (log.t < t + horizon)]
    past = past.sort_values("ts", kind="stable")
    n = int(log.j.max()) + 1
    seqs = {u: g.j.to_numpy() + 1 for u, g in past.groupby("u", sort=True)}  # items 1..n, oldest first
    m, epochs = fit(list(seqs.values()), n, a)
    chart = past[past.t >= t - pd.Timedelta(days=30)].j.value_counts().index
    sold = np.zeros(n, bool)
    sold[past.j.unique()] = True
    top = past.j.value_counts().index[:a.max_items].to_numpy()
    pos = np.full(n, -1)
    pos[top] = np.arange(len(top))
    users = sorted(seqs)
    xw = np.zeros((len(users), len(top)), np.float32)
    for r, u in enumerate(users):
        k = pos[seqs[u][::-1] - 1]
        w = 1 / (1 + np.arange(len(k)) / 20)
        np.maximum.at(xw[r], k[k >= 0], w[k >= 0])
    b = ease.weights((xw > 0).astype(np.float32).T @ (xw > 0).astype(np.float32), a.ease_lambda)
    scored = [u for u in nxt.u.unique() if u in seqs]
    logits = dict(zip(scored, last_logits(m, padded([seqs[u] for u in scored], a.length)), strict=True))
    rows = []
    for u, got in nxt[nxt.u.isin(scored)].groupby("u").j.apply(set).items():
        known = set(seqs[u] - 1)
        truth = got - known
        if not truth:
            continue
        s = logits[u][1:].copy()
        s[~sold] = -np.inf
        s[list(known)] = -np.inf
        e = np.full(n, -np.inf)
        e[top] = xw[users.index(u)] @ b
        e[list(known)] = -np.inf
        c = [j for j in chart if j not in known]
        ranks = {}
        for name, sc in (("sasrec", s), ("ease", e)):
            r = np.empty(n)
            r[np.argsort(-sc, kind="stable")] = np.arange(1, n + 1)
            ranks[name] = r
        c_rank = np.full(n, np.inf)
        c_rank[c] = np.arange(1, len(c) + 1)
        row = {"t": t, "epochs": epochs, "chart": ndcg(c[:10], truth)}
        for name, r in ranks.items():
            row[name] = ndcg(list(np.argsort(r)[:10]), truth)
        for w in (0.25, 0.5, 0.75):
            blend = w / ranks["sasrec"] + (1 - w) / c_rank
            blend[list(known)] = -np.inf
            row[f"sasrec+chart {w}"] = ndcg(list(np.argsort(-blend, kind="stable")[:10]), truth)
        rows.append(row)
    return rows


def main() -> None:
    ap = arguments(__doc__)
    ap.add_argument("--length", type=int, default=200, help="latest items a user's sequence keeps")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-epochs", type=int, default=200)
    ap.add_argument("--every", type=int, default=5, help="epochs between held-out evaluations")
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--max-items", type=int, default=5000, help="EASE's items, as the source's ease_max_items")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log = read_log(a.ratings, a.sep)
    step = pd.Timedelta(days=a.step_days)
    rows = []
    for k in range(a.nights):
        t0, t = time.time(), pd.Timestamp(a.run_date) - k * step
        got = pd.DataFrame(night(log, t, step, a))
        rows.append(got)
        cols = [c for c in got.columns if c not in ("t", "epochs")]
        log_.info("night %s: %d users, %d epochs, %s (%.0f s)", f"{t:%F}", len(got), got.epochs.iloc[0],
                  ", ".join(f"{c} {got[c].mean():.4f}" for c in cols), time.time() - t0)
    versus_best(pd.concat(rows), a.nights, ("t", "epochs"))


if __name__ == "__main__":
    main()
