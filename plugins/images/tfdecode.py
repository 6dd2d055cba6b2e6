"""Decoding on the TensorFlow backend: TensorFlow's decoders in parallel tf.data pipelines
(as Keras' image_dataset_from_directory), every image turned upright, fitted to the size and
made 8-bit by the rules of :mod:`.formats`, so that :mod:`.pildecode` gives the same pixels.
TIFFs, which TensorFlow cannot decode, go to Pillow here too."""
from __future__ import annotations

import os

import numpy as np

import zoo

from . import formats, pildecode
from .folder import PILLOW_ONLY

#: images decoded at once. tf.data's AUTOTUNE starts low and ramps up, and a single pass over
#: many small files ends before it has: a fixed number, well above the cores, keeps them busy
#: (against AUTOTUNE: benchmarks/results/images.txt)
IN_FLIGHT = max(64, 2 * (os.cpu_count() or 1))


def _fit(tf, image, size):
    """The centred box of ``size``'s aspect ratio (height, width), resized to ``size``, as
    uint8: the image covers ``size`` and its centre is kept, as Pillow's ImageOps.fit does.
    An image of that size already is passed through untouched (no resize, no rounding: the
    common case of a folder of equal images). Shrinking averages each output pixel's area
    of the input (antialiased, as OpenCV's INTER_AREA; plain bilinear would alias a large
    photo, and TensorFlow's antialiased bilinear is much slower); enlarging is bilinear.
    Both mix input pixels with weights that add up to one, so rounding is all the uint8
    needs. :func:`.resize.fit` is the same in NumPy."""
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


def decode(files: list, size: tuple) -> np.ndarray:
    """The uint8 images (n, h, w, 3) of ``files``, decoded in parallel by TensorFlow (TIFFs
    by Pillow), turned upright by their EXIF orientation and fitted by :func:`_fit`. Raises
    ValueError when a file cannot be decoded."""
    tf = zoo.import_tensorflow()
    by_pillow = np.array([os.path.splitext(f)[1].lower() in PILLOW_ONLY for f in files],
                         dtype=bool)
    tf_index = np.flatnonzero(~by_pillow)
    x, exif = _decode_tf([files[i] for i in tf_index], size)
    turned, turns = np.empty(0, dtype=int), np.empty(0, dtype=np.int32)
    if exif.any():   # the JPEGs that may have an EXIF block: those that say to turn
        says = formats.orientations([files[i] for i in tf_index[exif]])
        valid = says > 1
        turned, turns = tf_index[exif][valid], says[valid]
    if not by_pillow.any() and not len(turned):
        return x
    out = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    out[tf_index] = x
    if len(turned):
        out[turned] = _decode_turned(tf, [files[i] for i in turned], turns, size)
    if by_pillow.any():
        out[by_pillow] = pildecode.decode([files[i] for i in np.flatnonzero(by_pillow)], size)
    return out


def decode_one(path) -> None:
    """Decode one file whole, for its error alone (ValueError or TensorFlow's)."""
    tf = zoo.import_tensorflow()
    _decode_whole(tf, tf.io.read_file(str(path))).numpy()


def _decode_tf(files: list, size: tuple) -> tuple:
    """Images, and which are JPEGs that may have an EXIF block, decoded in a parallel
    tf.data pipeline. When a sample says the images have ``size`` already (a folder of equal
    images, the common case), they are decoded without the fitting step; should one of
    them have another size after all, all are decoded again with it. Large JPEGs are
    decoded scaled down by the ratio :func:`.formats.ratios` reads from their headers."""
    if not files:
        return np.empty((0, size[0], size[1], 3), dtype=np.uint8), np.empty(0, dtype=bool)
    tf = zoo.import_tensorflow()
    if sized(files, size):
        try:
            return _pipeline(tf, files, size, fit=False)
        except ValueError:   # another size somewhere (or a bad file): fit every image
            pass
    return _pipeline(tf, files, size, fit=True, ratios=formats.ratios(files, size))


def sized(files: list, size: tuple, sample: int = 50) -> bool:
    """Whether a sample of ``files`` (evenly spread, at most ``sample``; their headers, read
    by Pillow) are all stored at ``size`` (height, width) already."""
    for path in files[::max(1, len(files) // sample)]:
        if formats.header_size(path) != (size[1], size[0]):
            return False
    return True


def _decode_scaled(tf, raw, r):
    """A JPEG's pixels at 1/``r`` of its size (1, 2, 4 or 8; libjpeg's DCT scaling)."""
    branch = r // 2 - tf.cast(r == 8, r.dtype)   # 1, 2, 4, 8 -> 0, 1, 2, 3
    return tf.switch_case(branch, [
        lambda k=k: tf.io.decode_jpeg(raw, channels=3, ratio=k, dct_method=formats.JPEG_DCT)
        for k in (1, 2, 4, 8)])


def _decode_whole(tf, raw):
    """Any image's pixels at their full size, RGB (a GIF's first frame): a JPEG with
    libjpeg's accurate inverse DCT (:data:`.formats.JPEG_DCT`), the rest at their own
    channels, then gray repeated and alpha dropped (as Pillow's convert("RGB"); asked for 3
    channels, TensorFlow refuses a WebP with alpha)."""
    def other():
        image = tf.io.decode_image(raw, expand_animations=False)
        return tf.cond(tf.shape(image)[2] < 3, lambda: tf.tile(image[:, :, :1], [1, 1, 3]),
                       lambda: image[:, :, :3])

    return tf.cond(tf.io.is_jpeg(raw), lambda: tf.io.decode_jpeg(
        raw, channels=3, dct_method=formats.JPEG_DCT), other)


def _upright(tf, image, turn):
    """``image`` turned as its EXIF orientation ``turn`` (2 to 8) says, as Pillow's
    ImageOps.exif_transpose does (:func:`.pildecode.upright` in NumPy): mirrored (2, 4),
    turned half round (3), or with its axes swapped (5) and then turned or mirrored (6: a
    quarter clockwise; 7; 8: a quarter anticlockwise)."""
    def swapped():
        return tf.transpose(image, [1, 0, 2])

    return tf.switch_case(turn - 2, [
        lambda: image[:, ::-1], lambda: image[::-1, ::-1], lambda: image[::-1],
        swapped, lambda: swapped()[:, ::-1], lambda: swapped()[::-1, ::-1],
        lambda: swapped()[::-1]])


def _decode_turned(tf, files: list, turns: np.ndarray, size: tuple) -> np.ndarray:
    """The JPEGs whose EXIF orientations ``turns`` say to turn them, decoded (at the scale
    that covers ``size`` once they are upright), turned and fitted, in parallel."""
    ratios = formats.ratios(files, size, turns)

    def one(path, turn, r):
        image = _fit(tf, _upright(tf, _decode_scaled(tf, tf.io.read_file(path), r), turn), size)
        image.set_shape((size[0], size[1], 3))
        return image

    return _in_parallel(tf, ([str(f) for f in files], turns, ratios), one, len(files))


def _pipeline(tf, files: list, size: tuple, fit: bool, ratios=None) -> tuple:
    """(images, which may have EXIF) of ``files``: decoded (at 1/``ratios``, when given), and
    fitted to ``size`` when ``fit``."""
    ratios = np.ones(len(files), dtype=np.int32) if ratios is None else ratios

    def one(path, r):
        raw = tf.io.read_file(path)
        image = tf.cond(r > 1, lambda: _decode_scaled(tf, raw, r), lambda: _decode_whole(tf, raw))
        if fit:
            image = _fit(tf, image, size)
        # unfitted, an image of another size fails the batch below: the caller fits them all
        image.set_shape((size[0], size[1], 3))
        return image, tf.strings.substr(raw, 0, formats.HEAD)

    images, heads = _in_parallel(tf, ([str(f) for f in files], ratios), one, len(files))
    return images, np.array([formats.may_have_exif(h) for h in heads], dtype=bool)


def _in_parallel(tf, slices, one, count: int):
    """``one`` over the ``count`` elements of ``slices`` in a tf.data pipeline,
    :data:`IN_FLIGHT` at once and in order, into one batch of all (each image is written into
    it without another copy). Its tensors come back as read-only arrays, views of
    TensorFlow's buffers (as on Ray) rather than second copies. ValueError when an element
    fails: a file that cannot be decoded, or, unfitted, an image of another size than the
    rest."""
    data = tf.data.Dataset.from_tensor_slices(slices)
    data = data.map(lambda *a: one(*a), num_parallel_calls=IN_FLIGHT, deterministic=True)
    try:
        out = data.batch(count).get_single_element()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as exc:
        raise ValueError(str(exc)) from None
    return tuple(map(np.asarray, out)) if isinstance(out, tuple) else np.asarray(out)
