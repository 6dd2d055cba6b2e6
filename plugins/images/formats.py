"""What both decoders (TensorFlow's and Pillow's) go by: the size limit, which JPEGs may hold
an EXIF orientation and which are decoded scaled down (and by how much), 8-bit conversion,
and what a decoder's error means in words. One rule each, so that the two decoders give the
very same pixels."""
from __future__ import annotations

import os
import re

import numpy as np

from .sizes import exif_orientation

#: how many bytes of each file's start the EXIF check reads
HEAD = 64
#: large JPEGs are decoded at 1/2, 1/4 or 1/8 of their size (libjpeg's DCT scaling) when that
#: still covers the size asked for: a folder of camera photos decodes several times faster
#: (benchmarks/results/images.txt)
JPEG_SCALING = True
#: JPEGs of fewer bytes are decoded whole: small images decode fast anyway, and the check
#: of a JPEG's size costs a folder of them more than the scaling saves
SCALED_FROM_BYTES = 32 * 1024
#: the most pixels an image may have, as its header says, to be decoded at all: Pillow's
#: default limit against decompression bombs (a 552 KB PNG of 20000x20000 decoded to 1.2 GB)
MAX_PIXELS = 89_478_485
TOO_LARGE = "image too large"
#: the JPEG decoders' inverse DCT: libjpeg's accurate integer one ("islow"), which is
#: Pillow's and, asked for, TensorFlow's (TensorFlow's own default, "ifast", gives other
#: pixels: up to 11 levels apart, measured)
JPEG_DCT = "INTEGER_ACCURATE"


def is_jpeg(head: bytes) -> bool:
    """A JPEG by its first bytes, as TensorFlow's ``is_jpeg`` decides."""
    return head[:3] == b"\xff\xd8\xff"


def may_have_exif(head: bytes) -> bool:
    """Whether a file whose first :data:`HEAD` bytes are ``head`` is a JPEG that may have an
    EXIF block where the standards put it: first after the start marker, or right after a
    JFIF APP0 segment. When the APP0 segment runs past the head (a JFIF thumbnail), the
    answer is "may" (Pillow then reads the orientation)."""
    head = head[:HEAD]
    if not is_jpeg(head):
        return False
    exif = b"Exif\x00\x00"
    if head[6:12] == exif:
        return True
    if head[2:4] != b"\xff\xe0":
        return False
    padded = head + bytes(HEAD + 16)
    after = 8 + padded[4] * 256 + padded[5]   # where the next segment's "Exif" would be
    return after + 6 > HEAD or padded[after:after + 6] == exif


def orientation(img) -> int:
    """The EXIF orientation (2 to 8) that says to turn an opened image, else 1."""
    says = exif_orientation(img)
    return says if 2 <= says <= 8 else 1


def orientations(files: list) -> np.ndarray:
    """:func:`orientation` of each file, read by Pillow from the file's header."""
    from PIL import Image  # lazy: Pillow is needed only for the files that may be turned

    out = np.ones(len(files), dtype=np.int32)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as img:
                out[i] = orientation(img)
        except Exception:   # a bad file is reported when it is decoded
            pass
    return out


#: the names of JPEG files (a large one is decoded scaled down without looking inside first)
JPEG_NAMES = (".jpg", ".jpeg")


def scale_of(path, nbytes: int, head: bytes, size: tuple, turn: int = 1, img=None) -> int:
    """The 1/ratio a file is decoded at (1: whole). A JPEG of :data:`SCALED_FROM_BYTES` or
    more, named as one or turned by its EXIF orientation ``turn``, when
    :data:`JPEG_SCALING`: the :func:`ratio` of its header's size (``img``, the opened image,
    else read by Pillow) against the size it must cover stored as it is. ValueError
    (:data:`TOO_LARGE`) when its header states more than :data:`MAX_PIXELS`."""
    if not (_candidate(path, nbytes, turn) and is_jpeg(head)):
        return 1
    width, height = img.size if img is not None else header_size(path)
    if width * height > MAX_PIXELS:
        raise ValueError(f"{path}: {TOO_LARGE}")
    return ratio(height, width, stored_size(size, turn))


def _candidate(path, nbytes: int, turn: int) -> bool:
    """Whether a file may be decoded scaled down, from its name, length and EXIF orientation
    alone (the rest of :func:`scale_of`'s rule needs its first bytes)."""
    return JPEG_SCALING and nbytes >= SCALED_FROM_BYTES and (
        turn > 1 or os.path.splitext(str(path))[1].lower() in JPEG_NAMES)


def header_size(path) -> tuple:
    """(width, height) from an image's header (Pillow reads no pixels to open it; its own
    bomb check is left to zoo's limit), or (0, 0) when Pillow cannot read it (the decoder
    then says what is wrong)."""
    from PIL import Image  # lazy: only for large JPEGs and the files named as bad

    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as img:
            return img.size
    except Exception:
        return 0, 0
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def ratios(files: list, size: tuple, turns=None) -> np.ndarray:
    """:func:`scale_of` of each file (``turns``: their EXIF orientations, 1 when not
    given)."""
    out = np.ones(len(files), dtype=np.int32)
    for i, path in enumerate(files):
        nbytes = os.path.getsize(path)
        turn = 1 if turns is None else int(turns[i])
        if not _candidate(path, nbytes, turn):
            continue   # not opened: the common case of small images costs nothing
        with open(path, "rb") as f:
            head = f.read(HEAD)
        out[i] = scale_of(path, nbytes, head, size, turn)
    return out


def ratio(height: int, width: int, size: tuple) -> int:
    """The largest of 8, 4, 2 at which a stored ``height`` x ``width`` JPEG, decoded at
    1/ratio (each side rounded up, as libjpeg does), still covers ``size``; else 1."""
    for r in (8, 4, 2):
        if -(-height // r) >= size[0] and -(-width // r) >= size[1]:
            return r
    return 1


def stored_size(size: tuple, turn: int) -> tuple:
    """The size an image stored with EXIF orientation ``turn`` must cover to cover ``size``
    once upright (5 to 8: stored on its side)."""
    return (size[1], size[0]) if turn >= 5 else tuple(size)


def stated_pixels(files: list, heads: list | None = None) -> np.ndarray:
    """The pixels each file's header states, for PNG, GIF and BMP (their sizes sit at fixed
    places in the first 26 bytes, read here for all files at once: about 5 microseconds a
    file, or taken from ``heads`` already read); 0 for other formats. JPEGs are checked
    where their header is read for scaling (:func:`scale_of`): one under
    :data:`SCALED_FROM_BYTES` cannot hold a bomb's worth of pixels (even a blank one packs at
    most about 250 pixels a byte); a WebP's sides stop at 16383."""
    if heads is None:
        heads = []
        for path in files:
            with open(path, "rb") as f:
                heads.append(f.read(26))
    b = np.frombuffer(b"".join(h[:26].ljust(26, b"\x00") for h in heads),
                      dtype=np.uint8).reshape(-1, 26).astype(np.int64)

    def number(start, n, big=False):
        order = np.arange(n - 1, -1, -1) if big else np.arange(n)
        return b[:, start:start + n] @ (256 ** order)

    bmp_height = number(22, 4)
    bmp_height = np.abs(np.where(bmp_height >= 2 ** 31, bmp_height - 2 ** 32, bmp_height))
    png = (b[:, :4] == [0x89, 0x50, 0x4E, 0x47]).all(axis=1)
    gif = (b[:, :3] == [0x47, 0x49, 0x46]).all(axis=1)
    bmp = (b[:, :2] == [0x42, 0x4D]).all(axis=1)
    return np.select([png, gif, bmp], [number(16, 4, True) * number(20, 4, True),
                                       number(6, 2) * number(8, 2),
                                       number(18, 4) * bmp_height], 0)


def too_large(path) -> str:
    """Why an image is too large to decode, from its header alone, or ''."""
    width, height = header_size(path)
    if width * height <= MAX_PIXELS:
        return ""
    return (f"it is {width:,} x {height:,} pixels, more than the {MAX_PIXELS:,} zoo decodes "
            "(a decompression bomb, or a scan far larger than any model here needs)")


def to_8_bits(a: np.ndarray, mode: str) -> np.ndarray:
    """Pixels of more than 8 bits as 8-bit, the one conversion for every format: 16-bit
    values keep their high byte (value // 256), as TensorFlow's and Pillow's PNG decoders do,
    so that a 16-bit TIFF and a 16-bit PNG of one picture give the same pixels (each image
    was once stretched by its own maximum); floats in [0, 1] times 255 (rounded)."""
    if mode != "F" and (not a.size or a.max() <= 65535):
        return (np.asarray(a, dtype=np.int64) >> 8).astype(np.uint8)
    a = np.asarray(a, dtype=np.float64)
    if mode == "F" and a.size and a.max() <= 1.0:
        a = a * 255
    else:   # other ranges: by the image's maximum
        a = a / max(1.0, a.max()) * 255
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


#: what the decoders say (TensorFlow's op messages, Pillow's), in words a user acts on
DECODER_WORDS = (
    ("jpeg", "its JPEG data is corrupt or cut short"),
    ("png", "its PNG data is corrupt or cut short"),
    ("gif", "its GIF data is corrupt or cut short"),
    ("bmp", "its BMP data is corrupt or cut short"),
    ("webp", "its WebP data is corrupt or cut short"),
    ("unknown image file format", "it is not an image of a kind zoo reads (PNG, JPEG, BMP, "
                                  "GIF, WebP, TIFF)"),
    ("cannot identify image file", "it is not an image of a kind zoo reads (PNG, JPEG, BMP, "
                                   "GIF, WebP, TIFF)"),
    ("truncated", "its image data is cut short"),
    ("tiff", "its TIFF data is corrupt or cut short"),
)


def in_words(exc) -> str:
    """What is wrong with a file, from a decoder's error: in words where the error is one the
    decoders are known to give, else its first line without TensorFlow's op names, cut at a
    word."""
    text = re.sub(r"\{\{[^}]*\}\}|\[Op:\w+\]( name: \S*)?", "", str(exc)).strip()
    text = text.splitlines()[0].strip() if text else type(exc).__name__
    low = text.lower()
    if "unknown image file format" in low or "cannot identify image file" in low:
        return next(w for k, w in DECODER_WORDS if k in low and " " in k)
    for key, words in DECODER_WORDS:
        if key in low:
            return f"{words} ({_cut(text, 80)})"
    return _cut(text, 120)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."
