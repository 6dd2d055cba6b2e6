"""The size images are brought to, and whether their decoded pixels fit in memory."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import zoo

#: the default size: the images' median, at most this many pixels a side
MAX_SIDE = 128
#: the decoded arrays may take at most this share of the machine's memory
MEMORY_SHARE = 0.25


def parse_size(value):
    """'64' or 64 -> (64, 64); '64x48' -> (48, 64) as (height, width) for a width x height;
    None stays None. ConfigError otherwise."""
    if value is None:
        return None
    text = str(value).lower().replace(" ", "")
    parts = text.split("x")
    if not all(p.isdigit() for p in parts) or len(parts) not in (1, 2) or \
            not all(4 <= int(p) <= 1024 for p in parts):
        raise zoo.ConfigError(f"--image-size: expected a side like 64 or WIDTHxHEIGHT like "
                              f"64x48 (4 to 1024 pixels), got {value!r}")
    width, height = int(parts[0]), int(parts[-1])
    return height, width


def median_size(files: list, sample: int = 500) -> tuple:
    """(height, width): the median of (a sample of) the images, upright, capped at
    :data:`MAX_SIDE` a side with its aspect ratio kept."""
    from PIL import Image

    rng = np.random.default_rng(0)
    picked = [files[i] for i in rng.choice(len(files), min(sample, len(files)), replace=False)]
    sizes = []
    for path in picked:
        try:
            with Image.open(path) as img:
                w, h = img.size
                if exif_orientation(img) in (5, 6, 7, 8):
                    w, h = h, w
            sizes.append((h, w))
        except Exception:   # a bad file is reported when it is decoded
            continue
    h, w = np.median(sizes, axis=0) if sizes else (MAX_SIDE, MAX_SIDE)
    scale = min(1.0, MAX_SIDE / max(h, w))
    return max(4, int(round(h * scale))), max(4, int(round(w * scale)))


def exif_orientation(img) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:
        return 1


def memory_limit() -> int:
    """Bytes the decoded images may take: :data:`MEMORY_SHARE` of the machine's memory."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 8 * 1024 ** 3
    return int(total * MEMORY_SHARE)


def check_memory(count: int, size: tuple, channels: int, root: Path) -> None:
    """Before decoding: the decoded images (uint8, plus a second copy while the test split
    and the cache are made: 2 bytes a value) must fit in :data:`MEMORY_SHARE` of the
    machine's memory."""
    need = count * size[0] * size[1] * channels * 2
    if need > memory_limit():
        side = int((memory_limit() / (count * channels * 2)) ** 0.5)
        raise zoo.DataError(root, f"{count:,} images of {size[1]}x{size[0]} would take "
                            f"{need / 1024 ** 3:.1f} GB, more than a quarter of this "
                            f"machine's memory ({memory_limit() / 1024 ** 3:.1f} GB); pass a "
                            f"smaller --image-size (at most about {side})")
