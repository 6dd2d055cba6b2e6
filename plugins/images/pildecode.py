"""Decoding without TensorFlow (the JAX and PyTorch backends): Pillow's decoders, a thread
per core (Pillow lets go of the GIL while it decodes), giving the very pixels of
:mod:`.tfdecode`: both decoders use libjpeg's accurate inverse DCT and the same DCT scaling
of large JPEGs, turn only the JPEGs TensorFlow's pipeline turns, convert to RGB as
TensorFlow's decoders do (alpha dropped, gray repeated, a GIF's transparent pixels black,
16-bit values' high byte), and fit by :func:`.resize.fit`, TensorFlow's arithmetic in NumPy.
Tested image for image against the TensorFlow pipeline."""
from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import formats
from .folder import PILLOW_ONLY
from .resize import fit

#: images decoded at once, one per thread
WORKERS = max(2, os.cpu_count() or 1)
#: Pillow's modes of more than 8 bits a channel (gray)
WIDE = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


#: images decoded before they are fitted, those of one shape together (a folder of equal
#: images is fitted a stack at a time: NumPy's per-call cost paid once a stack)
CHUNK = 256


def decode(files: list, size: tuple) -> np.ndarray:
    """The uint8 images (n, h, w, 3) of ``files``, upright and fitted to ``size``, decoded
    :data:`WORKERS` at once. ValueError when one cannot be decoded."""
    out = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    with ThreadPoolExecutor(WORKERS) as pool:
        for start in range(0, len(files), CHUNK):
            images = list(pool.map(lambda path: decode_one(path, size),
                                   files[start:start + CHUNK]))
            shapes = {}
            for i, image in enumerate(images):
                shapes.setdefault(image.shape, []).append(i)
            for index in shapes.values():
                out[[start + i for i in index]] = fit(np.stack([images[i] for i in index]), size)
    return out


def decode_one(path, size: tuple | None = None) -> np.ndarray:
    """One image decoded, upright and RGB, at its own size, or scaled down as
    :func:`.formats.scale_of` says for ``size``. ValueError with Pillow's words when it
    cannot be decoded."""
    from PIL import Image  # lazy: Pillow's plugins load on first use

    kind = ""   # the format, once Pillow knows it: its errors rarely say
    try:
        with open(path, "rb") as f:
            raw = f.read()
        with Image.open(io.BytesIO(raw)) as img:
            kind = img.format or ""
            if os.path.splitext(str(path))[1].lower() in PILLOW_ONLY:
                return _tiff(img)
            head = raw[:formats.HEAD]
            turn = formats.orientation(img) if formats.may_have_exif(head) else 1
            r = formats.scale_of(path, len(raw), head, size, turn, img) if size else 1
            if r > 1:
                width, height = img.size
                img.draft("RGB", (max(1, width // r), max(1, height // r)))
            return upright(rgb(img), turn)
    except Exception as exc:   # Pillow's errors (OSError, SyntaxError, ...), zoo's size limit
        said = str(exc) or type(exc).__name__
        raise ValueError(f"{kind}: {said}" if kind else said) from None


def _tiff(img) -> np.ndarray:
    """A TIFF (which only Pillow decodes, whichever decoder decodes the rest): upright by
    its orientation tag, RGB, 8-bit."""
    from PIL import ImageOps  # lazy: Pillow's plugins load on first use

    return rgb(ImageOps.exif_transpose(img))


def rgb(img) -> np.ndarray:
    """An opened image's pixels as RGB uint8 (h, w, 3), as TensorFlow's decoders give them:
    alpha dropped, gray repeated, more than 8 bits by :func:`.formats.to_8_bits`, a GIF's
    transparent pixels black."""
    if img.mode in WIDE:
        gray = formats.to_8_bits(np.asarray(img), img.mode)
        return np.repeat(gray[:, :, None], 3, axis=2)
    out = np.asarray(img.convert("RGB"))
    clear = img.info.get("transparency")
    if img.format == "GIF" and img.mode in ("P", "L") and isinstance(clear, int):
        out = out.copy()
        out[np.asarray(img) == clear] = 0
    return out


def upright(image: np.ndarray, turn: int) -> np.ndarray:
    """``image`` turned as its EXIF orientation ``turn`` says, as Pillow's
    ImageOps.exif_transpose does (and tfdecode._upright in TensorFlow)."""
    if turn < 2:
        return image
    if turn >= 5:
        image = image.transpose(1, 0, 2)
    flips = {2: (slice(None), slice(None, None, -1)), 3: (slice(None, None, -1),) * 2,
             4: (slice(None, None, -1),), 5: (), 6: (slice(None), slice(None, None, -1)),
             7: (slice(None, None, -1),) * 2, 8: (slice(None, None, -1),)}[turn]
    return image[flips]
