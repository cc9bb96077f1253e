"""95 % intervals for the release gate, so a verdict does not flip on one photo or one reconstruction.

- `wilson`: the Wilson score interval of a rate k/n (attack top-1 over reconstruction rows, accuracy over
  test images). Unlike the normal approximation it stays inside [0, 1] and is not empty at k = 0 or k = n:
  0 hits in 10 rows still leaves 0-27.8 %, and a 5 % limit needs at least 73 rows (`rows_to_pass`).
- `paired_bootstrap_drop`: the interval of accuracy(baseline) - accuracy(hardened) on the SAME images,
  resampling images (both models' hits together) with a fixed seed, so the pairing removes the images'
  shared difficulty from the width.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 %
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Interval:
    point: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"point": self.point, "low": self.low, "high": self.high}


def wilson(hits: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of hits / n (n = 0: the whole of [0, 1], nothing was measured)."""
    if n <= 0:
        return Interval(math.nan, 0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if hits <= 0 else max(0.0, centre - half)  # exact ends where rounding would miss them
    high = 1.0 if hits >= n else min(1.0, centre + half)
    return Interval(p, low, high)


def rows_to_pass(limit: float, z: float = Z95) -> int | None:
    """The fewest rows at which 0 hits has a Wilson upper bound within `limit` (a share): with fewer, no rate
    check can pass, whatever was measured. None when no size can (limit <= 0)."""
    if limit <= 0:
        return None
    if limit >= 1:
        return 0
    return math.ceil(z * z * (1 - limit) / limit - 1e-9)  # the bound at 0 hits is z^2 / (n + z^2)


def paired_bootstrap_drop(baseline_hits: np.ndarray, hardened_hits: np.ndarray, *,
                          resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Interval:
    """Percentile interval of mean(baseline_hits) - mean(hardened_hits) over paired resamples of images."""
    a = np.asarray(baseline_hits, dtype=np.float64).reshape(-1)
    b = np.asarray(hardened_hits, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired hits need one entry per image for both models ({a.shape} vs {b.shape})")
    if len(a) == 0:
        return Interval(math.nan, -1.0, 1.0)
    diff = a - b
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // len(diff))  # bounded memory for large test sets
    means = np.concatenate([diff[rng.integers(0, len(diff), size=(min(chunk, resamples - start), len(diff)))].mean(1)
                            for start in range(0, resamples, chunk)])
    low, high = np.quantile(means, [0.025, 0.975])
    return Interval(float(diff.mean()), float(low), float(high))
