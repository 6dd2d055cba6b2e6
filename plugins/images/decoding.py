"""Decoding: which decoder decodes (TensorFlow's on the TensorFlow backend, Pillow's on JAX
and PyTorch, the same pixels either way), the size check before any pixel is decoded, and
bad files named."""
from __future__ import annotations

import importlib.util
import os

import numpy as np

import zoo

from . import formats, pildecode, tfdecode
from .folder import PILLOW_ONLY
from .formats import in_words

#: which decoder decodes: "tensorflow" (parallel tf.data, as Keras'
#: image_dataset_from_directory), "pillow" (a thread per core), or None: TensorFlow's on the
#: TensorFlow backend, Pillow's on the others (no TensorFlow import) and wherever TensorFlow
#: is not installed. Both give the same pixels (tested), so a cache serves either.
DECODER = None


def decoder() -> str:
    """The decoder that decodes here (see :data:`DECODER`)."""
    if DECODER:
        return DECODER
    if zoo.keras_backend() == "tensorflow" and importlib.util.find_spec("tensorflow"):
        return "tensorflow"
    return "pillow"


def decode(files: list, size: tuple, heads: list | None = None) -> np.ndarray:
    """The uint8 images (n, h, w, 3) of ``files``, turned upright by their EXIF orientation,
    fitted to ``size`` (height, width) and made RGB, by :func:`decoder`'s decoder. ValueError
    when a file cannot be decoded (which one: :func:`bad_files`) or a header states more
    than :data:`.formats.MAX_PIXELS` (checked before decoding). ``heads``: the files' first
    bytes, when already read (zoo_plugins.images.cache.cache_key)."""
    if len(files) and formats.stated_pixels(files, heads).max() > formats.MAX_PIXELS:
        raise ValueError(formats.TOO_LARGE)
    return (tfdecode if decoder() == "tensorflow" else pildecode).decode(files, size)


def decode_or_skip(root, files: list, size: tuple, skip_bad: bool, heads=None) -> tuple:
    """(images, which of ``files`` they are of, the files left out): every file decoded,
    or, when some cannot be, DataError naming the first (and how many), unless
    ``skip_bad``, when the rest are decoded and those left out."""
    keep = np.ones(len(files), dtype=bool)
    try:
        return decode(files, size, heads), keep, []
    except ValueError as exc:
        bad = bad_files(files)
        if not bad:   # the decoders failed, yet no file alone fails: say what they said
            raise zoo.DataError(root, f"could not decode the images: {in_words(exc)}") from None
        if not skip_bad:
            path, problem = bad[0]
            raise zoo.DataError(path, f"not a readable image ({problem}); fix or remove it, "
                                "or pass --skip-bad-images to leave such files out"
                                + (f" ({len(bad)} found)" if len(bad) > 1 else "")) from None
    gone = {str(b) for b, _ in bad}
    keep = np.array([str(f) not in gone for f in files], dtype=bool)
    kept = [f for f, k in zip(files, keep, strict=True) if k]
    x = decode(kept, size) if kept else np.empty((0, *size, 3), np.uint8)
    return x, keep, [str(b) for b, _ in bad]


def bad_files(files: list) -> list:
    """(file, problem) of every file that cannot be decoded, checked one by one (the slow
    path, taken only when the fast one failed)."""
    one = tfdecode.decode_one if decoder() == "tensorflow" else pildecode.decode_one
    bad = []
    for path in files:
        try:
            too_large = formats.too_large(path)
            if too_large:
                bad.append((path, too_large))
            elif os.path.splitext(str(path))[1].lower() in PILLOW_ONLY:
                pildecode.decode_one(path)
            else:
                one(path)
        except Exception as exc:
            bad.append((path, in_words(exc)))
    return bad


def all_gray(x: np.ndarray, chunk: int = 256) -> bool:
    """Whether every RGB image of ``x`` is gray (its three channels equal), a chunk at a
    time, stopping at the first chunk with a coloured image (a folder of colour photos
    costs one chunk)."""
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        if not ((part[..., 0] == part[..., 1]).all() and (part[..., 1] == part[..., 2]).all()):
            return False
    return True
