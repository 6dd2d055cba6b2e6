"""Do held-out folds sit closer to the training folds than independent data does?

Sign Language MNIST's training CSV was grown from about 1,704 photos by augmentation, so a
random split puts near-copies of one photo on both sides; held-out scores then measure
memorisation. This module measures that, and groups near-copies for a grouped k-fold.

Distances are Euclidean on the images as zoo trains on them ([0, 1] pixels, flattened;
images larger than 32 pixels a side averaged over blocks down to at most 32 first), computed
in chunks (bounded memory) on a fixed sample of query images.

The check, per dataset and split:

- ``fold``: for held-out images (a sample over all folds), the distance to the nearest image
  of *their* training folds, and a 1-nearest-neighbour classifier's accuracy on them;
- ``test``: the same for the official test split against the whole training set, when the
  dataset has one;
- ``near_copy_threshold``: a quarter of the median distance between two random images of the
  same class; ``near_copies`` is the share of held-out images whose nearest training image is
  closer than that. (Measured: on Sign MNIST that is 1.55, between the held-out folds' median
  nearest distance of 0.43 and the test split's 2.46, and grouping at it brings a grouped
  fold's 1-NN accuracy to the test split's, 0.78 vs 0.81; on digits only 0.7% of images have
  a neighbour that close.)

Leakage is flagged when the held-out median distance is under half the test split's (with a
test split), or when over 10% of held-out images are near-copies (with or without one).
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

QUERIES = 2000          # held-out / test images sampled for the check
CHUNK = 512             # query rows per distance block
NEAR_COPY_FRACTION = 0.25
RATIO_LIMIT = 0.5
COPY_SHARE_LIMIT = 0.10


#: images larger than this a side are compared block-averaged down to at most this size
SIDE = 32


#: images flattened at once (a memory-mapped dataset is read this many at a time)
ROWS = 2048


def _flat(x) -> np.ndarray:
    """Images as rows of pixels; larger than :data:`SIDE` a side, averaged over blocks first
    (a near-copy stays a near-copy, and 128x128 photos cost what 32x32 ones do). Large sets
    are read :data:`ROWS` images at a time: only the small rows are kept."""
    if len(x) > ROWS:
        return np.concatenate([_flat(x[i:i + ROWS]) for i in range(0, len(x), ROWS)])
    x = np.asarray(x)
    x = np.multiply(x, np.float32(1 / 255), dtype=np.float32) if x.dtype == np.uint8 else \
        np.asarray(x, dtype=np.float32)
    if x.ndim == 4 and max(x.shape[1:3]) > SIDE:
        f = -(-max(x.shape[1:3]) // SIDE)
        h, w = x.shape[1] // f * f, x.shape[2] // f * f
        x = x[:, :h, :w].reshape(len(x), h // f, f, w // f, f, x.shape[3]).mean(axis=(2, 4))
    return x.reshape(len(x), -1)


def nearest(query, reference, chunk: int = CHUNK):
    """(distance, index) of each query row's nearest reference row, computed in blocks of
    ``chunk`` x len(reference) float32 (never the whole matrix at once)."""
    return _nearest_rows(_flat(query), _flat(reference), chunk)


def _nearest_rows(q, r, chunk: int = CHUNK):
    """:func:`nearest` on rows already flattened by :func:`_flat`."""
    r_sq = np.einsum("ij,ij->i", r, r)
    dist = np.empty(len(q), dtype=np.float64)
    index = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):
        block = q[start:start + chunk]
        d2 = r_sq[None, :] - 2.0 * block @ r.T
        d2 += np.einsum("ij,ij->i", block, block)[:, None]
        best = d2.argmin(axis=1)
        index[start:start + chunk] = best
        dist[start:start + chunk] = np.sqrt(np.maximum(d2[np.arange(len(block)), best], 0))
    return dist, index


def near_copy_threshold(x, y, seed: int = 0, pairs: int = 4000, flat=None) -> float:
    """A quarter of the median distance between two random images of the same class
    (``flat``: the images through :func:`_flat` already)."""
    rng = np.random.default_rng(seed)
    flat = _flat(x) if flat is None else flat
    a = rng.integers(0, len(y), pairs)
    same = [rng.choice(np.flatnonzero(y == y[i])) for i in a]
    d = np.linalg.norm(flat[a] - flat[same], axis=1)
    d = d[d > 0]
    return float(NEAR_COPY_FRACTION * np.median(d)) if len(d) else 0.0


def check(x, y, fold_of, x_test=None, y_test=None, seed: int = 0,
          queries: int = QUERIES) -> dict:
    """The leakage check's numbers and verdict for one dataset under one split."""
    rng = np.random.default_rng(seed)
    flat = _flat(x)   # once, a block at a time: a memory-mapped set is never copied whole
    threshold = near_copy_threshold(x, y, seed, flat=flat)
    take = rng.choice(len(y), min(queries, len(y)), replace=False)
    fold_dist = np.empty(len(take))
    fold_hits = np.empty(len(take), dtype=bool)
    for k in np.unique(fold_of[take]):
        mine = take[fold_of[take] == k]
        train = np.flatnonzero(fold_of != k)
        d, i = _nearest_rows(flat[mine], flat[train])
        where = np.flatnonzero(fold_of[take] == k)
        fold_dist[where] = d
        fold_hits[where] = y[train][i] == y[mine]
    out = {
        "queries": int(len(take)), "near_copy_threshold": threshold,
        "fold": {"median_distance": float(np.median(fold_dist)),
                 "one_nn_accuracy": float(fold_hits.mean()),
                 "near_copies": float((fold_dist < threshold).mean())},
    }
    if x_test is not None:
        # sorted: a memory-mapped test split is read in file order (the statistics are of
        # the same sample either way)
        t = np.sort(rng.choice(len(y_test), min(queries, len(y_test)), replace=False))
        d, i = _nearest_rows(_flat(x_test[t]), flat)
        out["test"] = {"median_distance": float(np.median(d)),
                       "one_nn_accuracy": float((y[i] == y_test[t]).mean()),
                       "near_copies": float((d < threshold).mean())}
    reasons = []
    if "test" in out and out["test"]["median_distance"] > 0:
        ratio = out["fold"]["median_distance"] / out["test"]["median_distance"]
        out["distance_ratio"] = ratio
        if ratio < RATIO_LIMIT:
            reasons.append(f"held-out images sit {1 / ratio:.1f}x closer to their training "
                           "folds than the official test images do to the training set")
    if out["fold"]["near_copies"] > COPY_SHARE_LIMIT:
        reasons.append(f"{out['fold']['near_copies']:.0%} of held-out images have a near-copy "
                       "in their training folds")
    out["leakage"] = bool(reasons)
    out["reasons"] = reasons
    return out


def groups(x, y, threshold: float | None = None, seed: int = 0) -> np.ndarray:
    """Group ids joining near-copies: connected components of the graph that links two
    images closer than ``threshold`` (default: :func:`near_copy_threshold`)."""

    flat = _flat(x)
    if threshold is None:
        threshold = near_copy_threshold(x, y, seed, flat=flat)
    sq = np.einsum("ij,ij->i", flat, flat)
    rows, cols = [], []
    for start in range(0, len(flat), CHUNK):
        block = flat[start:start + CHUNK]
        d2 = sq[None, :] - 2.0 * block @ flat.T + sq[start:start + CHUNK, None]
        r, c = np.nonzero(d2 < threshold * threshold)
        rows.append(r + start)
        cols.append(c)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)),
                       shape=(len(flat), len(flat)))
    return connected_components(graph, directed=False)[1].astype(np.int64)
