"""Fitting an image to the size asked for, in NumPy, with TensorFlow's arithmetic: the
centred box of the size's aspect ratio, shrunk by area averaging (TensorFlow's ResizeArea)
or enlarged bilinearly (ResizeBilinear with half-pixel centres), then rounded half to even.
Each step is TensorFlow's float32 operation in TensorFlow's order, so that an image decoded
without TensorFlow has the very pixels TensorFlow's pipeline gives (tested on many sizes)."""
from __future__ import annotations

import numpy as np

F = np.float32


def fit(image: np.ndarray, size: tuple) -> np.ndarray:
    """``image`` (h, w, c) uint8, or a stack of images of one shape (n, h, w, c), fitted to
    ``size`` (height, width) as uint8: its centred box of that aspect ratio (the image covers
    ``size``, its centre kept, as Pillow's ImageOps.fit does), area-averaged when either side
    shrinks, else bilinear. An image of that size already is returned untouched."""
    th, tw = size
    h, w = image.shape[-3:-1]
    if (h, w) == (th, tw):
        return image
    ch = min(h, (w * th + tw // 2) // tw)
    cw = min(w, (h * tw + th // 2) // th)
    top, left = (h - ch) // 2, (w - cw) // 2
    box = image[..., top:top + ch, left:left + cw, :]
    out = area(box, size) if ch > th or cw > tw else bilinear(box, size)
    return np.round(out).astype(np.uint8)


def area(image: np.ndarray, size: tuple) -> np.ndarray:
    """TensorFlow's ResizeArea (align_corners false) of ``image`` (h, w, c) to ``size``, as
    float32: each output pixel the area-weighted sum of the input pixels it covers, summed
    along a row first (the edge pixels weighted by the part they cover), then over the rows,
    then scaled by the output pixel's area."""
    h, w = image.shape[-3:-1]
    y_scale, x_scale = F(h) / F(size[0]), F(w) / F(size[1])
    rows = _area_sums(image.astype(F), w, size[1], x_scale, axis=-2)
    sums = _area_sums(rows, h, size[0], y_scale, axis=-3, weigh_every=True)
    return sums * F(1.0 / float(y_scale * x_scale))


def _area_cells(in_size: int, out_size: int, scale):
    """For each output index: the first input index it covers, how many, and each covered
    input's weight (the part of it inside the output cell), as TensorFlow computes them in
    float32; (start (n,), count (n,), weights (n, most))."""
    out = np.arange(out_size)
    lo = out.astype(F) * scale
    hi = (out + 1).astype(F) * scale
    start = np.floor(lo).astype(np.int64)
    count = np.ceil(hi).astype(np.int64) - start
    index = start[:, None] + np.arange(count.max())[None, :]
    i = index.astype(F)
    weight = np.where(i < lo[:, None], np.where(i + F(1) > hi[:, None], scale, i + F(1) - lo[:, None]),
                      np.where(i + F(1) > hi[:, None], hi[:, None] - i, F(1)))
    return start, count, np.clip(index, 0, in_size - 1), weight.astype(F)


def _area_sums(a: np.ndarray, in_size: int, out_size: int, scale, axis: int,
               weigh_every: bool = False) -> np.ndarray:
    """The weighted sums along ``axis`` in TensorFlow's order. Along a row (x) the first and
    last covered pixels are weighted and the ones between added as they are; over rows (y)
    every row's sum is weighted, the first one added to zero. Cells that cover fewer inputs
    than the widest add exact zeros, which change no float."""
    start, count, index, weight = _area_cells(in_size, out_size, scale)
    take = lambda k: np.take(a, index[:, k], axis=axis)   # noqa: E731
    shape = [1] * a.ndim
    shape[axis] = out_size

    def col(values):
        return values.reshape(shape)

    total = np.zeros_like(take(0)) if weigh_every else take(0) * col(weight[:, 0])
    for k in range(0 if weigh_every else 1, index.shape[1]):
        inside = col(k < count)
        if weigh_every:
            term = take(k) * col(weight[:, k])
        else:
            last = col(k == count - 1)
            term = np.where(last, take(k) * col(weight[:, k]), take(k))
        total = total + np.where(inside, term, F(0))
    return total


def bilinear(image: np.ndarray, size: tuple) -> np.ndarray:
    """TensorFlow's ResizeBilinear with half-pixel centres of ``image`` (h, w, c) to
    ``size``, as float32: top and bottom rows interpolated along x, then between them
    along y."""
    h, w = image.shape[-3:-1]
    y0, y1, ly = _bilinear_cells(h, size[0])
    x0, x1, lx = _bilinear_cells(w, size[1])
    a = image.astype(F)
    top, bottom = a[..., y0, :, :], a[..., y1, :, :]
    lx = lx[:, None]
    top = top[..., x0, :] + (top[..., x1, :] - top[..., x0, :]) * lx
    bottom = bottom[..., x0, :] + (bottom[..., x1, :] - bottom[..., x0, :]) * lx
    return top + (bottom - top) * ly[:, None, None]


def _bilinear_cells(in_size: int, out_size: int):
    """(lower index, upper index, weight of the upper) of each output index, as TensorFlow's
    half-pixel scaler gives them in float32."""
    scale = F(in_size) / F(out_size)
    at = (np.arange(out_size).astype(F) + F(0.5)) * scale - F(0.5)
    floor = np.floor(at)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(at).astype(np.int64), in_size - 1)
    return lower, upper, (at - floor).astype(F)
