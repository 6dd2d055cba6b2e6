"""Are the claims zoo's words make calibrated under nulls shaped like real k-fold runs, and how
much power does the primary claim have, with and without repeats? A seeded simulator of its
own, judged with zoo's own test code (zoo.judge.stats: the corrected t-test, the t test over
images and fold models, Holm's adjustment, the detectable difference).

    python benchmarks/statistics.py                # about 25 minutes on 2 cores
    python benchmarks/statistics.py --runs 200     # quicker, noisier

The simulator. A dataset of n images (and an official test split of n more) is cut into 60
data chunks; a split deals the chunks to k folds. Image i is right for fold model (m, f) of
model m with probability

    clip(difficulty_i + affinity_mi + delta_m + training_mf + fold_f + seed_mf, 0, 1)

- difficulty_i: shared by the models (Beta(8, 1.5): mean accuracy about 0.84);
- affinity_mi: model x image (sd 0.10): models equal on average are better on different images;
- training_mf: the sum of model m's effects of the chunks fold f trains on (sd 0.5 points per
  fold model), so one model's folds are correlated about (k-2)/(k-1): they share training data;
- fold_f: shared by the models (sd 0.5 points); seed_mf: each fold model's own (sd 0.5 points);
- delta_m: the true difference (0 under a null).

Two nulls, one per estimand. Held-out folds: claims are about models trained on data of this
size from this distribution, so the chunk effects are drawn afresh for every run (a dataset
can favour a model by chance; the test must allow for it). Official test split: claims are
about models trained on these training data, so each model's chunk effects sum to zero (these
data favour no model), and what varies is which chunks a fold model holds, its seed and the
test images. Repeats deal the chunks again with new seeds.

Every claim: "A ahead of B" (a Holm-adjusted pairwise test on the primary metric), "the
models differ" (3+ models: the same tests, any pair), "the curves cross" (significant both
ways at two training sizes). Beside the new claims, what zoo said before: Friedman's test over
folds and Cochran's Q over test images (chi-square p).
"""
import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo.judge import stats  # noqa: E402

CHUNKS = 60
AFFINITY = 0.10
TRAINING = 0.005
FOLD = 0.005
SEED = 0.005
N_BOOT = 400


def rate(hits, runs) -> str:
    p = hits / runs
    return f"{p:6.1%} ± {math.sqrt(max(p * (1 - p), 0.05 * 0.95 / 4) / runs):.1%}"


# -- the simulator -------------------------------------------------------------------------------
class Dataset:
    """One dataset: images, their difficulty, each model's affinities and chunk effects."""

    def __init__(self, rng, n, models, k, null: str, delta=0.0, spread=1.0, training=1.0):
        self.rng, self.n, self.m, self.k, self.spread = rng, n, models, k, spread
        self.delta = np.zeros(models)
        self.delta[0] = delta
        self.chunk_of = rng.permutation(np.arange(n) % CHUNKS)
        self.difficulty = rng.beta(8, 1.5, n)
        self.affinity = rng.normal(0, AFFINITY, (models, n))
        self.test_difficulty = rng.beta(8, 1.5, n)
        self.test_affinity = rng.normal(0, AFFINITY, (models, n))
        sd = spread * training * TRAINING / math.sqrt(CHUNKS * (k - 1) / k)
        self.chunks = rng.normal(0, sd, (models, CHUNKS))
        if null == "test":   # these training data favour no model
            self.chunks -= self.chunks.mean(axis=1, keepdims=True)

    def folds(self, repeats: int):
        """Yield (held-out image positions, every fold model's shift: models x 1) for every
        fold of every repeat."""
        for _ in range(repeats):
            fold_of_chunk = self.rng.permutation(np.arange(CHUNKS) % self.k)
            for f in range(self.k):
                training = self.chunks[:, fold_of_chunk != f].sum(axis=1)
                shift = (training + self.rng.normal(0, self.spread * FOLD)
                         + self.rng.normal(0, self.spread * SEED, self.m))
                yield np.flatnonzero(fold_of_chunk[self.chunk_of] == f), shift[:, None]

    def right(self, difficulty, affinity, shift):
        p = np.clip(difficulty[None] + affinity + shift, 0, 1)
        if self.delta.any():   # fewer errors, delta of accuracy in expectation (no clipping)
            errors = np.maximum(1 - p.mean(axis=1, keepdims=True), 1e-9)
            p = 1 - (1 - p) * np.clip(1 - self.delta[:, None] / errors, 0, 1)
        return self.rng.random(p.shape) < p


def held_out_scores(d: Dataset, repeats=1) -> np.ndarray:
    """models x (k x repeats) held-out accuracies."""
    return np.stack([d.right(d.difficulty[h], d.affinity[:, h], s).mean(axis=1)
                     for h, s in d.folds(repeats)], axis=1)


def test_answers(d: Dataset, repeats=1) -> np.ndarray:
    """models x fold models x test images: right or wrong."""
    return np.stack([d.right(d.test_difficulty, d.test_affinity, s)
                     for _, s in d.folds(repeats)], axis=1)


# -- zoo's claims --------------------------------------------------------------------------------
def cv_pairs(scores, n, k) -> list:
    """The corrected (repeated) k-fold t-test of every pair, as zoo.judge.comparisons does."""
    return [stats.corrected_ttest(scores[a], scores[b], n * (k - 1) / k, n / k)
            for a, b in stats.pairs(range(len(scores)))]


def test_pairs(right, seed) -> list:
    """The t test over images and fold models of every pair (predictions: 0 right, 1 wrong)."""
    boot = stats.TestSplitBootstrap(np.zeros(right.shape[2], int), 2, n_boot=N_BOOT, seed=seed)
    preds = [[np.where(fm, 0, 1) for fm in model] for model in right]
    keys = [[(m, f) for f in range(right.shape[1])] for m in range(len(right))]
    return [boot.compare(preds[a], preds[b], keys_a=keys[a], keys_b=keys[b])
            for a, b in stats.pairs(range(len(right)))]


def claimed(results) -> np.ndarray:
    """Which pairs the words call significant: Holm over the primary family."""
    return np.asarray(stats.holm([r["p"] for r in results])) < stats.ALPHA


def cochran(right) -> float:
    """Cochran's Q over the images on the fold ensembles' (majority) answers: zoo before."""
    x = (right.mean(axis=1) > 0.5).T.astype(float)   # images x models
    m = x.shape[1]
    col, row, total = x.sum(axis=0), x.sum(axis=1), x.sum()
    den = m * total - (row ** 2).sum()
    q = (m - 1) * (m * (col ** 2).sum() - total ** 2) / den if den > 0 else 0.0
    return float(sps.chi2.sf(q, m - 1))


# -- 1. nulls ------------------------------------------------------------------------------------
def nulls(runs, test_runs, rng):
    print("1. Nulls: the share of runs in which the words claim something (5% ± 1.5% is the "
          "goal; 'before': what zoo said until now)\n")
    print(f"  {'':34} {'held-out folds':>44}   {'official test split':>44}")
    print(f"  {'k  models  n':34} {'ahead / differ':>21} {'before (Friedman)':>22}   "
          f"{'ahead / differ':>21} {'before (Cochran)':>22}")
    for k in (3, 5, 10):
        for models in (2, 3, 5):
            for n in (500, 2000, 7000):
                cv = old_cv = test = old_test = 0
                for _ in range(runs):
                    scores = held_out_scores(Dataset(rng, n, models, k, "cv"))
                    cv += claimed(cv_pairs(scores, n, k)).any()
                    if models > 2:
                        old_cv += sps.friedmanchisquare(*scores).pvalue < 0.05
                t_runs = test_runs if n * models * k <= 50_000 else test_runs // 2
                for r in range(t_runs):
                    right = test_answers(Dataset(rng, n, models, k, "test"))
                    test += claimed(test_pairs(right, r)).any()
                    if models > 2:
                        old_test += cochran(right) < 0.05
                before = [rate(hits, total) if models > 2 else f"{'—':>14}"
                          for hits, total in ((old_cv, runs), (old_test, t_runs))]
                print(f"  k = {k:2}  {models} models  n = {n:5}    {rate(cv, runs):>21} "
                      f"{before[0]:>22}   {rate(test, t_runs):>21} {before[1]:>22}",
                      flush=True)


def sensitivity(runs, rng, k=5, n=2000):
    """How the held-out-folds claim depends on how much of a fold model comes from its
    training data: the corrected t-test assumes fold differences correlate about 1/k."""
    print(f"\n   Held-out folds, 2 models, k = {k}, n = {n:,}, as the training-data effect grows "
          "(the folds' correlation with it):")
    for training in (0.0, 1.0, 2.0, 4.0, 8.0):
        hits = 0
        for _ in range(runs):
            scores = held_out_scores(Dataset(rng, n, 2, k, "cv", training=training))
            hits += claimed(cv_pairs(scores, n, k)).any()
        print(f"     training effect {TRAINING * 100 * training:3.1f} points per fold model: "
              f"{rate(hits, runs)}", flush=True)


# -- 2. learning curves ----------------------------------------------------------------------------
def crossings(runs, rng, k=5, n=2000, sizes=(0.25, 0.5, 1.0)):
    """Two equal models at three training sizes (each size its own draw of folds): how often
    a difference at some size is claimed, and how often the curves are said to cross."""
    ahead = cross = 0
    for _ in range(runs):
        results = [cv_pairs(held_out_scores(Dataset(rng, int(n * s), 2, k, "cv")),
                            int(n * s), k)[0] for s in sizes]
        significant = claimed(results)
        signs = [np.sign(r["mean_diff"]) for r, s in zip(results, significant, strict=True) if s]
        ahead += significant.any()
        cross += any(a != b for a, b in zip(signs, signs[1:], strict=False))
    print(f"\n2. Learning curves, two equal models, k = {k}, n = {n:,} at sizes "
          f"{', '.join(map(str, sizes))} (Holm over the {len(sizes)} sizes):")
    print(f"  a difference claimed at some size {rate(ahead, runs)};   the curves said to "
          f"cross {rate(cross, runs)}")


# -- 3. power --------------------------------------------------------------------------------------
DELTAS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08)


def power_row(name, runs, draw):
    """Rejection in the right direction at each delta, the simulated 80% point, and the
    detectable difference zoo prints (median over the null runs)."""
    rates, detectable, before = [], [], {}
    for delta in DELTAS:
        hits = 0
        for r in range(runs):
            result = draw(delta, r)
            hits += bool(claimed([result])[0] and result["mean_diff"] > 0)
            before[delta] = before.get(delta, 0) + bool(result["p"] < 0.05 / 6 and
                                                        result["mean_diff"] > 0)
            if delta == 0:
                detectable.append(stats.detectable(result["se"], result["df"]))
        rates.append(hits / runs)
    eighty = float(np.interp(0.8, rates[1:], DELTAS[1:])) if max(rates) >= 0.8 and \
        all(np.diff(rates[1:]) >= -0.05) else float("nan")
    at = {d: r for d, r in zip(DELTAS, rates, strict=True)}
    print(f"  {name:44} {at[0.01]:6.1%} {at[0.03]:6.1%} {at[0.05]:6.1%}   "
          + (f"{eighty * 100:5.1f} points" if eighty == eighty else "  beyond 8 points")
          + f"   {np.nanmedian(detectable) * 100:5.1f} points"
          + f"   {before[0.03] / runs:6.1%} {before[0.05] / runs:6.1%}", flush=True)


def power(runs, test_runs, rng):
    print("\n3. Power of the primary claim, two models, the first better by delta (share of "
          "runs that say so):")
    print("  (before: the accuracy test at 0.05/6, Holm's first step over 1 pair x 6 metrics, "
          "where zoo adjusted every claim until now)")
    print(f"  {'':44} {'+1':>6} {'+3':>6} {'+5':>6}   {'80% reached at':>14}   "
          f"{'zoo says detectable':>19}   {'before: +3, +5':>14}")
    for k, n, repeats in ((5, 2000, 1), (5, 2000, 3), (5, 2000, 10), (10, 2000, 1),
                          (10, 2000, 3), (5, 7000, 1), (5, 7000, 3), (3, 500, 1),
                          (3, 500, 5)):
        power_row(f"held-out folds, k = {k}, n = {n:,}, repeats {repeats}", runs,
                  draw_cv(rng, k, n, repeats))
    for k, n, repeats in ((5, 2000, 1), (5, 2000, 3), (5, 7000, 1)):
        power_row(f"test split, k = {k}, n = {n:,}, repeats {repeats}", test_runs,
                  draw_test(rng, k, n, repeats))


def draw_cv(rng, k, n, repeats):
    def draw(delta, r):
        scores = held_out_scores(Dataset(rng, n, 2, k, "cv", delta), repeats)
        return cv_pairs(scores, n, k)[0]
    return draw


def draw_test(rng, k, n, repeats):
    def draw(delta, r):
        return test_pairs(test_answers(Dataset(rng, n, 2, k, "test", delta), repeats), r)[0]
    return draw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000, help="runs per held-out-folds row")
    ap.add_argument("--test-runs", type=int, default=None,
                    help="runs per test-split row (default: --runs / 2)")
    args = ap.parse_args()
    runs, test_runs = args.runs, args.test_runs or args.runs // 2
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    print(f"{runs} seeded runs per held-out-folds row, {test_runs} per test-split row (half "
          "that where the test split has over 50,000 fold-model answers); ± is one standard "
          f"error. Training, fold and seed effects {TRAINING * 100:g}, {FOLD * 100:g} and "
          f"{SEED * 100:g} points; model x image affinity sd {AFFINITY}; {N_BOOT} bootstrap "
          "resamples.\n")
    nulls(runs, test_runs, rng)
    sensitivity(runs, rng)
    crossings(runs, rng)
    power(runs // 2, test_runs // 2, rng)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
