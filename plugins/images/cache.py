"""The decoded arrays cached, keyed by every file's path, size and modification time and by
the settings; written in the background."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np


#: bumped when the decoding changes, so that older caches are not used
LOADER_VERSION = 2


def cache_key(files: list, settings: dict) -> str:
    """A hash of every file's path, size and modification time, the settings and the
    loader's version: any change to the folder or the settings gives another key."""
    h = hashlib.sha256(json.dumps({"settings": settings, "version": LOADER_VERSION},
                                  sort_keys=True).encode())
    stats = map(os.stat, files)
    h.update("".join(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n"
                     for path, st in zip(files, stats, strict=True)).encode())
    return h.hexdigest()[:24]


#: cache files being written now, by this process: path -> thread
_WRITERS = {}


def read_cache(path: Path):
    if path in _WRITERS:   # written by this process a moment ago: wait for it
        _WRITERS.pop(path).join()
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as a:
            return {k: a[k] for k in a.files}
    except Exception:   # a damaged cache is decoded afresh
        return None


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
