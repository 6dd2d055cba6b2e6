"""Are zoo's tests calibrated? False-positive rates on nulls where no model is better, and
power where one is, for the tests zoo uses and the ones it replaced (seeded simulations).

    python benchmarks/statistics.py              # about 10 minutes on 2 cores
    python benchmarks/statistics.py --runs 200   # quicker, noisier

1. Three models on an official test split, equally good on average but each better on
   different images (per-image affinity); every fold's model scored on the same images.
   Friedman's test over the folds (what zoo did) against Cochran's Q over the images on the
   fold ensembles (what zoo does).
2. Two models compared on the test split: the two-way bootstrap over images and fold models
   (what zoo did) against the t test with the variance split into image and fold-model parts
   (what zoo does), on four nulls and two real differences.
3. Friedman's test at small k: the chi-square approximation against the exact distribution.

Prints each rate with its standard error; 5% is the nominal rate of every test.
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo.judge import stats  # noqa: E402


def rate(hits, runs) -> str:
    p = hits / runs
    return f"{p:6.1%} (± {math.sqrt(p * (1 - p) / runs):.1%})"


# -- 1. three models on a shared test split ----------------------------------------------------
def omnibus(runs, n, k, rng):
    friedman = cochran = 0
    for _ in range(runs):
        base = rng.beta(6, 1, n)
        aff = rng.normal(0, 0.3, (3, n))
        p = np.clip(base[None] + aff, 0, 1)                        # 3 x n
        right = rng.random((k, 3, n)) < p[None]                     # fold x model x image
        accuracy = right.mean(axis=2)                               # k x 3
        friedman += sps.friedmanchisquare(*accuracy.T).pvalue < 0.05
        ensemble = right.sum(axis=0) * 2 > k                        # majority of the folds
        cochran += stats.cochrans_q(ensemble.T)["p"] < 0.05
    return friedman, cochran


# -- 2. two models on a shared test split --------------------------------------------------------
def two_models(rng, n, k, seed_sd, aff_sd, diff):
    base = rng.beta(6, 1, n)
    aff = rng.normal(0, aff_sd, (2, n))
    pa = np.clip(base + aff[0] + diff + rng.normal(0, seed_sd, (k, 1)), 0, 1)
    pb = np.clip(base + aff[1] + rng.normal(0, seed_sd, (k, 1)), 0, 1)
    y = np.zeros(n, dtype=int)
    # predictions: class 0 when right, class 1 when wrong
    return y, np.where(rng.random((k, n)) < pa, 0, 1), np.where(rng.random((k, n)) < pb, 0, 1)


def two_way_bootstrap(y, pa, pb, n_boot, seed):
    """zoo's former test: resample images and fold models; p = share of centred bootstrap
    differences at least as far from 0 as the observed one."""
    k, n = pa.shape
    a, b = (pa == y).astype(float), (pb == y).astype(float)
    images = stats._weights(np.random.default_rng(seed), n, n_boot) / n      # n_boot x n
    folds = stats._weights(np.random.default_rng([seed, k]), k, n_boot) / k  # n_boot x k
    per_fold = images @ (a - b).T                                          # n_boot x k
    diffs = (per_fold * folds).sum(axis=1)
    observed = float((a - b).mean())
    if observed == 0:
        return 1.0
    centred = diffs - diffs.mean()
    return max(float((np.abs(centred) >= abs(observed) - 1e-12).mean()), 1 / n_boot)


def comparisons(runs, rng, n_boot=1000):
    cases = [("identical, independent fold models, k = 3", 500, 3, 0.0, 0.0, 0.0),
             ("identical, independent fold models, k = 5", 500, 5, 0.0, 0.0, 0.0),
             ("identical, training-seed effect (sd 0.02)", 500, 5, 0.02, 0.0, 0.0),
             ("equal on average, per-image affinity (sd 0.3)", 500, 5, 0.0, 0.3, 0.0),
             ("identical, seed effect (sd 0.01), n = 2000", 2000, 5, 0.01, 0.0, 0.0),
             ("power: +3 points, n = 500, k = 5", 500, 5, 0.0, 0.0, 0.03),
             ("power: +3 points, n = 2000, k = 5, seed effect", 2000, 5, 0.01, 0.0, 0.03)]
    for name, n, k, seed_sd, aff_sd, diff in cases:
        old = new = 0
        for r in range(runs):
            y, pa, pb = two_models(rng, n, k, seed_sd, aff_sd, diff)
            old += two_way_bootstrap(y, pa, pb, n_boot, r) < 0.05
            new += stats.paired_bootstrap(y, pa, pb, "accuracy", 2, n_boot=n_boot,
                                          seed=r)["p"] < 0.05
        print(f"  {name:50} two-way bootstrap {rate(old, runs)}   t over images and "
              f"fold models {rate(new, runs)}")


# -- 3. Friedman at small k ----------------------------------------------------------------------
def small_k(runs, rng, k=4, m=3):
    chi2 = exact = 0
    for _ in range(runs):
        scores = rng.normal(0.8, 0.02, (k, m))
        chi2 += sps.friedmanchisquare(*scores.T).pvalue < 0.05
        exact += stats.friedman(scores)["p"] < 0.05
    return chi2, exact


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    runs = ap.parse_args().runs
    rng = np.random.default_rng(0)
    print(f"{runs} seeded runs per row; nominal rate 5%\n")
    print("1. Three models equally good on average, each better on different test images "
          "(k = 5 fold models each):")
    for n in (2000, 7172):
        f, c = omnibus(min(runs, 500), n, 5, rng)
        print(f"  n = {n:5} test images: Friedman over folds {rate(f, min(runs, 500))}   "
              f"Cochran's Q over images {rate(c, min(runs, 500))}")
    print("\n2. Two models on a shared test split (rejection rate; the last two rows are power):")
    comparisons(runs, rng)
    print("\n3. Friedman's test, 4 folds and 3 models, no difference:")
    c, e = small_k(runs * 2, rng)
    print(f"  chi-square approximation {rate(c, runs * 2)}   exact {rate(e, runs * 2)}")


if __name__ == "__main__":
    main()
