"""Reciprocal-rank fusion's constant: score = sum over sources of w / (offset + rank).
The ranker's untrained fusions (plain: every w = 1; weighted: w by the source's NDCG on
the training windows squared, `ml.model.weighted_prior`) replayed with several offsets on
the lists a backtest stored (`<artifacts>/_backtest`, local path), in numpy. Printed per
offset: mean NDCG@10 over the training windows' whole candidate sets and the validation
lists of every night, and its paired gain over offset 0 with the standard error (lists
repeat across nights whose windows overlap, so the errors are too small). The stored
inverse-rank features are 1 / (stored offset + rank): `--stored-offset` says which.

    PYTHONPATH=lib python bench/rank_offset.py /tmp/ml100k-run/artifacts/_backtest
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from shoprank.ml.reader import lists

OFFSETS = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 60.0)
PARTS = ("judge", "validation")


def ndcg(score: np.ndarray, label: np.ndarray, k: int = 10) -> float:
    """As `ml.model.ndcg_at`: ties keep list order."""
    top = np.argsort(-score, kind="stable")[:k]
    discount = 1 / np.log2(np.arange(2, k + 2))
    ideal = np.sort(label)[::-1][:k]
    best = (ideal * discount[:len(ideal)]).sum()
    return float((label[top] * discount[:len(top)]).sum() / best) if best > 0 else 0.0


def night_lists(bt: Path, night: str) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Per part, each list's (stored inverse ranks [n, sources], labels [n])."""
    meta = json.loads((bt / "models" / night / "training.json").read_text())
    names = meta["params"]["spec"]["feature_names"]
    cols = [i for i, n in enumerate(names) if n.startswith("inv_rank_")]
    out = {}
    for part in PARTS:
        files = sorted(str(f) for f in (bt / "examples" / night / part).rglob("*.parquet"))
        out[part] = [(f[:, cols].astype(np.float64), y.astype(np.float64)) for _, _, f, y in lists(files, len(names))]
    return out


def fused(inv: np.ndarray, stored: float, offset: float, weights: np.ndarray) -> np.ndarray:
    """Each item's sum of weight / (offset + rank); a source that did not propose it adds 0."""
    found = inv > 0
    rank = np.where(found, 1 / np.where(found, inv, 1.0) - stored, np.inf)
    return (1 / (offset + rank)) @ weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("backtest", type=Path, help="<artifacts>/_backtest of a finished backtest")
    ap.add_argument("--stored-offset", type=float, default=0.0,
                    help="candidates.rank_offset of the run that stored the lists")
    a = ap.parse_args()
    got: dict[tuple[str, float], list[np.ndarray]] = {}
    for night in sorted(p.name for p in (a.backtest / "examples").iterdir()):
        parts = night_lists(a.backtest, night)
        n = parts["judge"][0][0].shape[1]
        plain = np.ones(n)
        alone = [np.mean([ndcg(inv[:, s] + 0.01 * fused(inv, a.stored_offset, a.stored_offset, plain) / n, y)
                          for inv, y in parts["judge"]]) for s in range(n)]
        squared = np.square(alone)
        weighted = squared * n / squared.sum()
        for offset in OFFSETS:
            for name, w in (("plain", plain), ("weighted", weighted)):
                got.setdefault((name, offset), []).append(np.array(
                    [ndcg(fused(inv, a.stored_offset, offset, w), y) for part in PARTS for inv, y in parts[part]]))
    for name in ("plain", "weighted"):
        base = np.concatenate(got[(name, 0.0)])
        print(f"{name} fusion, {len(base)} lists: offset 0 {base.mean():.4f}")
        for offset in OFFSETS[1:]:
            v = np.concatenate(got[(name, offset)])
            d = v - base
            print(f"  offset {offset:g}: {v.mean():.4f}  gain {d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f}")


if __name__ == "__main__":
    main()
