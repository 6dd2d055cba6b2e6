"""Decoding: TensorFlow's decoders in parallel tf.data pipelines (Pillow for TIFF and EXIF
tags), every image turned upright, fitted to the size and made 8-bit; bad files named."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

import zoo

from .folder import PILLOW_ONLY
from .sizes import exif_orientation

def orientations(files: list) -> np.ndarray:
    """The EXIF orientation of each file (1 where there is none), read by Pillow from the
    file's header."""
    from PIL import Image

    out = np.ones(len(files), dtype=np.int32)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as img:
                out[i] = exif_orientation(img)
        except Exception:   # a bad file is reported when it is decoded
            pass
    return out


def _fit(tf, image, size):
    """The centred box of ``size``'s aspect ratio (height, width), resized to ``size``, as
    uint8: the image covers ``size`` and its centre is kept, as Pillow's ImageOps.fit does.
    An image of that size already is passed through untouched (no resize, no rounding: the
    common case of a folder of equal images). Shrinking averages each output pixel's area
    of the input (antialiased, as OpenCV's INTER_AREA; plain bilinear would alias a large
    photo, and TensorFlow's antialiased bilinear is much slower); enlarging is bilinear.
    Both mix input pixels with weights that add up to one, so rounding is all the uint8
    needs."""
    th, tw = size
    shape = tf.shape(image)
    h, w = shape[0], shape[1]

    def resized():
        ch = tf.minimum(h, (w * th + tw // 2) // tw)
        cw = tf.minimum(w, (h * tw + th // 2) // th)
        top, left = (h - ch) // 2, (w - cw) // 2
        box = image[top:top + ch, left:left + cw]
        out = tf.cond((ch > th) | (cw > tw), lambda: tf.image.resize(box, size, method="area"),
                      lambda: tf.image.resize(box, size))
        return tf.cast(tf.round(out), tf.uint8)

    return tf.cond((h == th) & (w == tw), lambda: image, resized)


#: how many bytes of each file's start the EXIF check reads
HEAD = 64
#: images decoded at once. tf.data's AUTOTUNE starts low and ramps up, and a single pass over
#: many small files ends before it has: a fixed number, well above the cores, keeps them busy
#: (against AUTOTUNE: benchmarks/results/images.txt)
IN_FLIGHT = max(64, 2 * (os.cpu_count() or 1))
#: large JPEGs are decoded at 1/2, 1/4 or 1/8 of their size (libjpeg's DCT scaling) when that
#: still covers the size asked for: a folder of camera photos decodes several times faster
#: (benchmarks/results/images.txt)
JPEG_SCALING = True
#: JPEGs of fewer bytes are decoded whole: small images decode fast anyway, and the check
#: of a JPEG's size costs a folder of them more than the scaling saves
SCALED_FROM_BYTES = 32 * 1024


def _may_have_exif(tf, heads):
    """Which of ``heads`` (a batch of files' first :data:`HEAD` bytes) are JPEGs that may
    have an EXIF block where the standards put it: first after the start marker, or right
    after a JFIF APP0 segment. When the APP0 segment runs past the head (a JFIF thumbnail),
    the answer is "may" (Pillow then reads the orientation). A batch at a time (a few ops
    for many files), padded so that a short file is never read past its end."""
    head = heads + "\x00" * (HEAD + 16)
    app0 = tf.cast(tf.io.decode_raw(tf.strings.substr(head, 4, 2), tf.uint8), tf.int32)
    after = 8 + app0[:, 0] * 256 + app0[:, 1]   # where the next segment's "Exif" would be
    exif = "Exif\x00\x00"
    next_one = tf.strings.substr(head, tf.minimum(after, HEAD), tf.fill(tf.shape(after), 6))
    return (tf.strings.substr(head, 0, 3) == b"\xff\xd8\xff") & (   # a JPEG (as tf.io.is_jpeg)
        (tf.strings.substr(head, 6, 6) == exif)
        | ((tf.strings.substr(head, 2, 2) == b"\xff\xe0")
           & ((next_one == exif) | (after + 6 > HEAD))))


def decode(files: list, size: tuple, heads: list | None = None) -> np.ndarray:
    """The uint8 images (n, h, w, 3) of ``files``, decoded in parallel by TensorFlow (TIFFs
    by Pillow), turned upright by their EXIF orientation and fitted by :func:`_fit`. Raises
    ValueError when a file cannot be decoded (which one: :func:`bad_files`). ``heads``: the
    files' first bytes, when already read (zoo_plugins.images.cache.cache_key)."""
    tf = zoo.import_tensorflow()
    if len(files) and stated_pixels(files, heads).max() > MAX_PIXELS:   # before decoding
        raise ValueError(TOO_LARGE)
    by_pillow = np.array([os.path.splitext(f)[1].lower() in PILLOW_ONLY for f in files],
                         dtype=bool)
    tf_index = np.flatnonzero(~by_pillow)
    x, exif = _decode_tf([files[i] for i in tf_index], size)
    turned, turns = np.empty(0, dtype=int), np.empty(0, dtype=np.int32)
    if exif.any():   # the JPEGs that may have an EXIF block: those that say to turn
        says = orientations([files[i] for i in tf_index[exif]])
        valid = (says >= 2) & (says <= 8)
        turned, turns = tf_index[exif][valid], says[valid]
    if not by_pillow.any() and not len(turned):
        return x
    out = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    out[tf_index] = x
    if len(turned):
        out[turned] = _decode_turned(tf, [files[i] for i in turned], turns, size)
    fit = tf.function(lambda image: _fit(tf, image, size),   # traced once for them all
                      input_signature=[tf.TensorSpec((None, None, 3), tf.uint8)])
    for i in np.flatnonzero(by_pillow):
        if _too_large(files[i]):
            raise ValueError(f"{files[i]}: {TOO_LARGE}")
        try:
            out[i] = fit(_pillow(files[i])).numpy()
        except Exception as exc:   # Pillow's errors (OSError, SyntaxError, ...)
            raise ValueError(f"{files[i]}: {exc}") from None
    return out


def all_gray(x: np.ndarray, chunk: int = 256) -> bool:
    """Whether every RGB image of ``x`` is gray (its three channels equal), a chunk at a
    time, stopping at the first chunk with a coloured image (a folder of colour photos
    costs one chunk)."""
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        if not ((part[..., 0] == part[..., 1]).all() and (part[..., 1] == part[..., 2]).all()):
            return False
    return True


def sized(files: list, size: tuple, sample: int = 50) -> bool:
    """Whether a sample of ``files`` (evenly spread, at most ``sample``; their headers, read
    by Pillow) are all stored at ``size`` (height, width) already."""
    from PIL import Image

    for path in files[::max(1, len(files) // sample)]:
        try:
            with Image.open(path) as img:
                if img.size != (size[1], size[0]):
                    return False
        except Exception:   # a bad file is reported when it is decoded
            return False
    return True


def _decode_tf(files: list, size: tuple) -> tuple:
    """Images, and which are JPEGs that may have an EXIF block, decoded in a parallel
    tf.data pipeline. When a sample says the images have ``size`` already (a folder of equal
    images, the common case), they are decoded without the fitting step; should one of
    them have another size after all, all are decoded again with it. Otherwise the large
    JPEGs (:func:`large_jpegs`) go through a pipeline of their own that may scale them
    down while decoding, and the rest through one that never checks (a check per image
    costs a folder of small images about 10%)."""
    if not files:
        return np.empty((0, size[0], size[1], 3), dtype=np.uint8), np.empty(0, dtype=bool)
    tf = zoo.import_tensorflow()
    if sized(files, size):
        try:
            return _pipeline(tf, files, size, fit=False)
        except ValueError:   # another size somewhere (or a bad file): fit every image
            pass
    large = large_jpegs(files)
    parts = [(index, scaled) for index, scaled in ((np.flatnonzero(~large), False),
                                                   (np.flatnonzero(large), True)) if len(index)]
    decoded = [_pipeline(tf, [files[i] for i in index], size, fit=True, scaled=scaled)
               for index, scaled in parts]
    if len(parts) == 1:
        return decoded[0]
    x = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    flags = np.empty(len(files), dtype=bool)
    for (index, _), (part, part_flags) in zip(parts, decoded, strict=True):
        x[index], flags[index] = part, part_flags
    return x, flags


def large_jpegs(files: list) -> np.ndarray:
    """Which ``files`` are JPEGs (by name) of :data:`SCALED_FROM_BYTES` or more, when
    :data:`JPEG_SCALING`: those that :func:`_decode_scaled` may scale down."""
    if not JPEG_SCALING:
        return np.zeros(len(files), dtype=bool)
    return np.array([os.path.splitext(f)[1].lower() in (".jpg", ".jpeg")
                     and os.path.getsize(f) >= SCALED_FROM_BYTES for f in files], dtype=bool)


def _decode_scaled(tf, raw, size):
    """An image's pixels; a JPEG's of :data:`SCALED_FROM_BYTES` or more at the smallest of
    1/8, 1/4, 1/2 and full size that still covers ``size`` (its header says how big it is;
    ``size`` may be tensors), when :data:`JPEG_SCALING`."""
    th, tw = size

    def jpeg():
        shape = tf.io.extract_jpeg_shape(raw)
        h, w = shape[0], shape[1]
        large = tf.debugging.assert_less_equal(tf.cast(h, tf.int64) * tf.cast(w, tf.int64),
                                               tf.constant(MAX_PIXELS, tf.int64),
                                               message=TOO_LARGE)
        # how many of the ratios 2, 4, 8 keep both sides (rounded up, as libjpeg does) covered
        k = tf.add_n([tf.cast(((h + r - 1) // r >= th) & ((w + r - 1) // r >= tw), tf.int32)
                      for r in (2, 4, 8)])
        with tf.control_dependencies([large]):
            return tf.switch_case(k, [lambda r=r: tf.io.decode_jpeg(raw, channels=3, ratio=r)
                                      for r in (1, 2, 4, 8)])

    if not JPEG_SCALING:
        return _decode_whole(tf, raw)
    large = (tf.strings.length(raw) >= SCALED_FROM_BYTES) & tf.io.is_jpeg(raw)
    return tf.cond(large, jpeg, lambda: _decode_whole(tf, raw))


def _decode_whole(tf, raw):
    """Any image's pixels at their full size, RGB (a GIF's first frame), as Keras decodes."""
    return tf.io.decode_image(raw, channels=3, expand_animations=False)


#: the most pixels an image may have, as its header says, to be decoded at all: Pillow's
#: default limit against decompression bombs (a 552 KB PNG of 20000x20000 decoded to 1.2 GB)
MAX_PIXELS = 89_478_485
TOO_LARGE = "image too large"


def stated_pixels(files: list, heads: list | None = None) -> np.ndarray:
    """The pixels each file's header states, for PNG, GIF and BMP (their sizes sit at fixed
    places in the first 26 bytes, read here for all files at once: about 5 microseconds a
    file, or taken from ``heads`` already read); 0 for other formats. JPEGs are checked
    where their header is parsed anyway (:func:`_decode_scaled`): one under
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


def _upright(tf, image, turn):
    """``image`` turned as its EXIF orientation ``turn`` (2 to 8) says, as Pillow's
    ImageOps.exif_transpose does: mirrored (2, 4), turned half round (3), or with its
    axes swapped (5) and then turned or mirrored (6: a quarter clockwise; 7; 8: a quarter
    anticlockwise)."""
    def swapped():
        return tf.transpose(image, [1, 0, 2])

    return tf.switch_case(turn - 2, [
        lambda: image[:, ::-1], lambda: image[::-1, ::-1], lambda: image[::-1],
        swapped, lambda: swapped()[:, ::-1], lambda: swapped()[::-1, ::-1],
        lambda: swapped()[::-1]])


def _decode_turned(tf, files: list, turns: np.ndarray, size: tuple) -> np.ndarray:
    """The JPEGs whose EXIF orientations ``turns`` say to turn them, decoded (at the scale
    that covers ``size`` once they are upright), turned and fitted, in parallel."""
    def one(path, turn):
        raw = tf.io.read_file(path)
        swap = turn >= 5   # stored on its side: its height must cover the width asked for
        stored = (tf.where(swap, size[1], size[0]), tf.where(swap, size[0], size[1]))
        image = _fit(tf, _upright(tf, _decode_scaled(tf, raw, stored), turn), size)
        image.set_shape((size[0], size[1], 3))
        return image

    return _in_parallel(tf, ([str(f) for f in files], turns), one, len(files))


def _pipeline(tf, files: list, size: tuple, fit: bool, scaled: bool = False) -> tuple:
    """(images, which may have EXIF) of ``files``: decoded (``scaled``: by
    :func:`_decode_scaled`), and fitted to ``size`` when ``fit``."""
    def one(path):
        raw = tf.io.read_file(path)
        image = _decode_scaled(tf, raw, size) if scaled else _decode_whole(tf, raw)
        if fit:
            image = _fit(tf, image, size)
        # unfitted, an image of another size fails the batch below: the caller fits them all
        image.set_shape((size[0], size[1], 3))
        return image, tf.strings.substr(raw, 0, HEAD)

    def exif_flags(images, heads):   # a batch at a time: a few ops for many images
        return images, _may_have_exif(tf, heads)

    return _in_parallel(tf, [str(f) for f in files], one, len(files), exif_flags)


def _in_parallel(tf, slices, one, count: int, then=None):
    """``one`` over the ``count`` elements of ``slices`` in a tf.data pipeline,
    :data:`IN_FLIGHT` at once and in order, into one batch of all (each image is written into
    it without another copy), then ``then`` on that batch, if given. Its tensors come back as
    read-only arrays, views of TensorFlow's buffers (as on Ray) rather than second copies.
    ValueError when an element fails: a file that cannot be decoded, or, unfitted, an image
    of another size than the rest."""
    data = tf.data.Dataset.from_tensor_slices(slices)
    data = data.map(one, num_parallel_calls=IN_FLIGHT, deterministic=True).batch(count)
    try:
        out = (data.map(then) if then else data).get_single_element()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as exc:
        raise ValueError(str(exc)) from None
    return tuple(map(np.asarray, out)) if isinstance(out, tuple) else np.asarray(out)


def _pillow(path: Path) -> np.ndarray:
    """One image decoded by Pillow: upright (by its EXIF orientation), RGB, 8-bit."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):   # 16-bit, 32-bit or float
            img = Image.fromarray(to_8_bits(np.asarray(img), img.mode))
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def to_8_bits(a: np.ndarray, mode: str) -> np.ndarray:
    """Pixels of more than 8 bits as 8-bit, the one conversion for every format: 16-bit
    values divided by 257 (rounded), as TensorFlow's PNG decoder does, so that a 16-bit TIFF
    and a 16-bit PNG of one picture give the same pixels (each image was once stretched by
    its own maximum); floats in [0, 1] times 255."""
    a = np.asarray(a, dtype=np.float64)
    if mode == "F" and a.size and a.max() <= 1.0:
        a = a * 255
    elif mode == "F" or (a.size and a.max() > 65535):   # other ranges: by the image's maximum
        a = a / max(1.0, a.max()) * 255
    else:
        a = a / 257
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def bad_files(files: list) -> list:
    """(file, problem) of every file that cannot be decoded, checked one by one (the slow
    path, taken only when the fast one failed)."""
    tf = zoo.import_tensorflow()
    bad = []
    for path in files:
        try:
            too_large = _too_large(path)
            if too_large:
                bad.append((path, too_large))
                continue
            if os.path.splitext(path)[1].lower() in PILLOW_ONLY:
                _pillow(path)
            else:
                _decode_whole(tf, tf.io.read_file(str(path)))
        except Exception as exc:
            bad.append((path, in_words(exc)))
    return bad


def _too_large(path) -> str:
    """Why an image is too large to decode, from its header alone (Pillow reads no pixels
    to open it; its own bomb check is left to zoo's limit here), or ''."""
    from PIL import Image

    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as img:
            width, height = img.size
    except Exception:   # not an image Pillow reads: the decoders say what is wrong
        return ""
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    if width * height <= MAX_PIXELS:
        return ""
    return (f"it is {width:,} x {height:,} pixels, more than the {MAX_PIXELS:,} zoo decodes "
            "(a decompression bomb, or a scan far larger than any model here needs)")


#: what the decoders say (TensorFlow's op messages, Pillow's), in words a user acts on
DECODER_WORDS = (
    ("jpeg", "its JPEG data is corrupt or cut short"),
    ("png", "its PNG data is corrupt or cut short"),
    ("gif", "its GIF data is corrupt or cut short"),
    ("bmp", "its BMP data is corrupt or cut short"),
    ("webp", "its WebP data is corrupt or cut short"),
    ("unknown image file format", "it is not an image of a kind zoo reads (PNG, JPEG, BMP, "
                                  "GIF, WebP, TIFF)"),
    ("cannot identify image file", "it is not an image Pillow can read"),
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
