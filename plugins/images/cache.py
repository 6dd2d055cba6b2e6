"""The decoded arrays cached, keyed by every file's path and contents (a BLAKE2 hash of
every byte) and by the settings; written in the background, and checked against the
folder when read back."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np


#: bumped when the decoding changes, so that older caches are not used (3: keyed by the
#: files' contents, no longer by their sizes and modification times; 4: JPEGs with libjpeg's
#: accurate inverse DCT, 16-bit values by their high byte, a WebP with alpha decoded)
LOADER_VERSION = 4


def cache_key(files: list, settings: dict, heads: list | None = None) -> str:
    """A hash of every file's path and contents, the settings and the loader's version: any
    change to the folder or the settings gives another key, also contents swapped between
    files of one size with their modification times restored (``cp -p``, ``rsync -a``,
    archives with fixed times), which a key of sizes and times missed. ``heads``, when
    given, receives each file's first :data:`HEAD` bytes from the same read (the decoder
    checks the sizes they state)."""
    h = hashlib.sha256(json.dumps({"settings": settings, "version": LOADER_VERSION},
                                  sort_keys=True).encode())
    for path in files:
        h.update(f"{path}\0".encode())
        h.update(_contents(path, heads) if os.path.exists(path) else b"(missing)")
    return h.hexdigest()[:24]


#: the bytes of a file's start kept for its header (see cache_key)
HEAD = 26
#: files up to this size are read in one call (the common case: 10,000 small images hash in
#: about 0.09 s); larger ones a block at a time
WHOLE = 1 << 24


def _contents(path, heads: list | None) -> bytes:
    """A BLAKE2 digest of a file's bytes; its first bytes appended to ``heads``."""
    with open(path, "rb") as f:
        data = f.read(WHOLE)
        digest = hashlib.blake2b(data, digest_size=16)
        for block in iter(lambda: f.read(WHOLE), b""):
            digest.update(block)
    if heads is not None:
        heads.append(data[:HEAD])
    return digest.digest()


#: cache files being written now, by this process: path -> thread
_WRITERS = {}


def read_cache(path: Path, size: tuple, count: int, classes: int):
    """The cached arrays, or None: none yet, a damaged file, or arrays that do not fit the
    settings (``size``, ``count`` images found, ``classes``) all count as no cache, and the
    folder is decoded afresh."""
    if path in _WRITERS:   # written by this process a moment ago: wait for it
        _WRITERS.pop(path).join()
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as a:
            arrays = {k: a[k] for k in a.files}
    except Exception:   # a damaged cache is decoded afresh
        return None
    return arrays if _fits(arrays, size, count, classes) else None


def _fits(a: dict, size: tuple, count: int, classes: int) -> bool:
    """Whether cached arrays are what decoding this folder with these settings gives: uint8
    images of ``size`` (gray or RGB), one label and one split flag per image, labels among
    the classes, as many images as files found less those skipped."""
    try:
        x, y, test, names, skipped = (a[k] for k in ("x", "y", "test", "classes", "skipped"))
    except KeyError:
        return False
    return (x.dtype == np.uint8 and x.ndim == 4 and x.shape[1:3] == tuple(size)
            and x.shape[3] in (1, 3) and len(x) == len(y) == len(test)
            and len(x) + len(skipped) == count and len(names) == classes
            and np.issubdtype(y.dtype, np.integer) and test.dtype == bool
            and (not len(y) or 0 <= y.min() <= y.max() < classes))


def write_cache(path: Path, arrays: dict) -> None:
    """In a background thread, atomically (a temporary file, then a rename): the load does
    not wait for the disk, and Python waits for the thread before it exits. A cache that
    cannot be written is only a slower next run."""
    import threading

    writer = threading.Thread(target=_write_cache, args=(path, arrays), name="zoo-image-cache")
    _WRITERS[path] = writer
    writer.start()


def _write_cache(path: Path, arrays: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass
