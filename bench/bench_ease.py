"""EASE's item-item weights on a dense Gram matrix: the Cholesky inverse the `ease`
baseline and source use (`baselines.ease.weights`) against the general inverse it
replaced, on random binary user-item matrices of the given item counts (the ones to
look at: the `ease` source's cap, 5,000, and ml-latest-small's 9,700 items under the
baseline's 10,000). Prints one line per size, the best of `--repeat` runs of each and
their largest difference: `ease_weights_seconds items=<n> inverse=<s> cholesky=<s>
speedup=<ratio> max_diff=<d>`.

    python bench/bench_ease.py --items 5000 9700
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from shoprank.baselines import ease


def general(gram: np.ndarray, lam: float) -> np.ndarray:
    """The previous form: B = -P / diag(P) with P from numpy's general inverse."""
    g = gram.astype(np.float64)
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)
    b[np.diag_indices_from(b)] = 0.0
    return b


def best_of(fn, repeat: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, nargs="+", default=[5000, 9700])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--density", type=float, default=0.01)
    ap.add_argument("--lam", type=float, default=500.0)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    for n in a.items:
        x = (rng.random((a.users, n)) < a.density).astype(np.float64)
        gram = x.T @ x
        old, b_old = best_of(lambda gram=gram: general(gram, a.lam), a.repeat)
        new, b_new = best_of(lambda gram=gram: ease.weights(gram, a.lam), a.repeat)
        diff = float(np.abs(b_old - b_new).max())
        line = (f"ease_weights_seconds items={n} inverse={old:.1f} cholesky={new:.1f} speedup={old / new:.2f} "
                f"max_diff={diff:.1e}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
