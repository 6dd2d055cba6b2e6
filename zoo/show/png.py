"""A small PNG writer (zlib only), for the report's image galleries."""
from __future__ import annotations

import base64
import struct
import zlib

import numpy as np


def encode(pixels: np.ndarray, scale: int = 1) -> bytes:
    """PNG bytes of a uint8 image (h, w), (h, w, 1) or (h, w, 3), enlarged ``scale`` times
    (nearest neighbour: the pixels stay visible)."""
    a = np.asarray(pixels, dtype=np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if scale > 1:
        a = np.repeat(np.repeat(a, scale, axis=0), scale, axis=1)
    color = 2 if a.ndim == 3 else 0
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[row].tobytes() for row in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def data_uri(pixels: np.ndarray, scale: int = 1) -> str:
    return "data:image/png;base64," + base64.b64encode(encode(pixels, scale)).decode()


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """A uint8 image (gray or RGB, shown in gray) with a [0, 1] heat map blended over it
    (blue -> red)."""
    gray = np.asarray(image, dtype=np.float32)
    if gray.ndim == 3:
        gray = gray.mean(axis=-1) if gray.shape[-1] == 3 else gray[..., 0]
    m = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)
    colors = np.stack([np.clip(1.5 - np.abs(4 * m - c), 0, 1) for c in (3, 2, 1)], axis=-1)
    rgb = (1 - alpha) * gray[..., None] + alpha * 255 * colors
    return np.clip(rgb, 0, 255).astype(np.uint8)
