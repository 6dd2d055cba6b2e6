"""Folders whose decoded pixels do not fit the memory limit: decoded in chunks into an on-disk
cache of ``.npy`` files (never all pixels in memory at once) and handed to zoo as memory-mapped
arrays, which zoo trains from a batch at a time.

The cache is a folder ``images-<key>/`` beside the in-memory caches (the same key: every file's
path and contents, and the settings): ``x_train.npy``, ``x_test.npy`` (with a test split),
``y.npy``, ``test.npy``, ``classes.npy`` and ``skipped.npy``. It is written under a temporary
name and renamed when complete, so a run stopped half-way leaves no cache that looks whole.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from .decoding import all_gray, decode_or_skip

#: images decoded at once: 1,000 of 224x224 RGB are 150 MB
CHUNK = 1000


def read_stream(folder: Path, size: tuple, count: int, classes: int):
    """The cached arrays memory-mapped (read-only), or None: none yet, or a cache that does
    not fit the settings (``size``, ``count`` files, ``classes``), which is decoded afresh."""
    if not (folder / "y.npy").exists():
        return None
    try:
        a = {name[:-4]: np.load(folder / name, mmap_mode="r" if name.startswith("x_") else None,
                                allow_pickle=False)
             for name in os.listdir(folder) if name.endswith(".npy")}
    except (OSError, ValueError):
        return None
    return a if _fits(a, size, count, classes) else None


def _fits(a: dict, size: tuple, count: int, classes: int) -> bool:
    """Whether the cached arrays are what decoding the folder with these settings gives."""
    x, test = a.get("x_train"), a.get("test")
    if x is None or test is None or not {"y", "classes", "skipped"} <= set(a):
        return False
    tested = int(test.sum())
    return (x.dtype == np.uint8 and x.ndim == 4 and x.shape[1:3] == tuple(size)
            and len(a["classes"]) == classes and len(test) == len(a["y"])
            and len(test) + len(a["skipped"]) == count and len(x) == len(test) - tested
            and (not tested or a.get("x_test", np.empty(0)).shape[0] == tested))


def write_stream(folder: Path, root: Path, files: list, test_files: list, classes: list,
                 size: tuple, color, skip_bad: bool) -> dict:
    """Decode ``files`` (training) and ``test_files`` CHUNK at a time straight into
    memory-mapped ``.npy`` files under ``folder``; returns the arrays as :func:`read_stream`
    does. Unreadable images stop it (a DataError naming the first) unless ``skip_bad``."""
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        skipped, gray = [], True
        parts = {}
        for part, listed in (("train", files), ("test", test_files)):
            if listed:
                parts[part], bad, was_gray = _decode_part(tmp / f"x_{part}.npy", root, listed,
                                                          size, skip_bad)
                skipped += bad
                gray = gray and was_gray
        channels = 1 if color == "gray" or (color is None and gray) else 3
        for part, labels in parts.items():   # one rewrite at most: cut and gray at once
            _rewrite(tmp / f"x_{part}.npy", len(labels), channels)
        y = np.concatenate([parts[p] for p in ("train", "test") if p in parts])
        test = np.concatenate([np.full(len(parts[p]), p == "test")
                               for p in ("train", "test") if p in parts])
        np.save(tmp / "y.npy", y.astype(np.int64))
        np.save(tmp / "test.npy", test)
        np.save(tmp / "classes.npy", np.array(classes))
        np.save(tmp / "skipped.npy", np.array(skipped, dtype=str))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return read_stream(folder, size, len(files) + len(test_files), len(classes))


def _decode_part(path: Path, root: Path, listed: list, size: tuple, skip_bad: bool):
    """One split's images decoded into ``path``, RGB: (their labels, skipped files, all gray).
    With files skipped, the file's last rows are left unused (:func:`_rewrite` cuts them)."""
    from numpy.lib.format import open_memmap

    out = open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(listed), *size, 3))
    labels, skipped, gray, at = [], [], True, 0
    for start in range(0, len(listed), CHUNK):
        chunk = listed[start:start + CHUNK]
        x, keep, bad = decode_or_skip(root, [f for f, _ in chunk], size, skip_bad)
        skipped += bad
        out[at:at + len(x)] = x
        at += len(x)
        labels += [c for (_, c), k in zip(chunk, keep, strict=True) if k]
        gray = gray and all_gray(x)
    out.flush()
    del out
    return np.array(labels, dtype=np.int64), skipped, gray


def _rewrite(path: Path, rows: int, channels: int) -> None:
    """Keep the first ``rows`` images of a memory-mapped .npy file and their first
    ``channels`` (gray images decoded as RGB keep one), chunk by chunk; nothing is written
    when the file holds just that."""
    from numpy.lib.format import open_memmap

    src = np.load(path, mmap_mode="r")
    if src.shape[0] == rows and src.shape[3] == channels:
        return
    smaller = path.with_suffix(".part")
    dst = open_memmap(smaller, mode="w+", dtype=src.dtype,
                      shape=(rows, *src.shape[1:3], channels))
    for start in range(0, rows, CHUNK):
        end = min(rows, start + CHUNK)
        dst[start:end] = src[start:end, ..., :channels]
    dst.flush()
    del dst, src
    os.replace(smaller, path)
